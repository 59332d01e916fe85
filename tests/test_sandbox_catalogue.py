"""GET /models?type=music: the catalogue that drives the generate form."""

import uuid

from sandbox import catalogue

from .sandbox_signing import client


def test_music_catalogue_has_every_model_shape(sandbox):
    response = client.get(sandbox.api_url + "/models", params={"type": "music"})

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list" and body["type"] == "music"
    specs = {model["id"]: model["model_spec"] for model in body["data"]}
    assert all(isinstance(model["created"], int) for model in body["data"])
    assert "durations" in specs["elevenlabs-music"]["pricing"]
    assert specs["elevenlabs-music"]["supports_force_instrumental"]
    assert not specs["elevenlabs-music"]["supports_lyrics"]
    assert specs["minimax-music-v25"]["pricing"] == {"generation": {"usd": 0.69, "diem": 0.69}}
    assert specs["minimax-music-v25"]["supports_lyrics_optimizer"]
    assert "min_duration" not in specs["minimax-music-v25"]
    assert "per_second" in specs["elevenlabs-sound-effects-v2"]["pricing"]
    assert specs["elevenlabs-sound-effects-v2"]["supports_loop"]
    tts = specs["elevenlabs-tts-v4"]
    assert "per_thousand_characters" in tts["pricing"]
    assert tts["default_voice"] in tts["voices"] and tts["supports_custom_voice_id"]
    assert tts["min_speed"] < tts["default_speed"] < tts["max_speed"]
    assert any(s.get("duration_options") and s["lyrics_required"] for s in specs.values())
    assert any(s["voice_changer"] for s in specs.values())
    assert any(s["offline"] for s in specs.values())
    assert any("pricing" not in s for s in specs.values())


def test_sandbox_internals_are_not_served(sandbox):
    body = client.get(sandbox.api_url + "/models", params={"type": "music"}).json()

    assert all(set(model) >= {"id", "created", "model_spec"} for model in body["data"])
    assert all(
        "sandbox" not in model and "sandbox" not in model["model_spec"] for model in body["data"]
    )


def test_other_model_types_list_nothing(sandbox):
    for model_type in ("text", "image", "tts"):
        body = client.get(sandbox.api_url + "/models", params={"type": model_type}).json()
        assert body == {"object": "list", "type": model_type, "data": []}


def test_about_eighty_percent_of_jobs_finish_within_the_estimate():
    p80 = 100.0
    runs = [catalogue.execution_s(p80, str(uuid.UUID(int=n))) for n in range(2000)]

    within = sum(run <= p80 for run in runs) / len(runs)
    assert 0.77 < within < 0.83
    assert min(runs) >= 50.0 and max(runs) <= 112.5


def test_a_job_runs_as_long_whenever_its_queue_id_is_seen():
    queue_id = str(uuid.uuid4())

    assert catalogue.execution_s(80.0, queue_id) == catalogue.execution_s(80.0, queue_id)
