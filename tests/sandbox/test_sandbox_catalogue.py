"""GET /models?type=music: the catalogue that drives the generate form."""

import uuid

from sandbox import catalogue

from .sandbox_signing import client

# Reference §3: the representative ids, all in the live list in late 2026.
SECTION_3_IDS = {
    "elevenlabs-music",
    "elevenlabs-music-v2-5",
    "lyria-3-pro",
    "sonilo-v1-1-music",
    "stable-audio-25",
    "minimax-music-v25",
    "minimax-music-v26",
    "minimax-music-v2",
    "ace-step-15",
    "elevenlabs-sound-effects-v2",
    "sonilo-v1-1-sound-effects",
    "mmaudio-v2-text-to-audio",
    "elevenlabs-tts-v4",
    "elevenlabs-tts-v4-turbo",
    "elevenlabs-tts-v3",
    "elevenlabs-tts-multilingual-v2",
    "seed-audio-1-0",
}
# Reference §3: "Which pricing shape a model has".
SECTION_3_PRICING = {
    "elevenlabs-music": "durations",
    "ace-step-15": "durations",
    "minimax-music-v25": "generation",
    "lyria-3-pro": "generation",
    "stable-audio-25": "generation",
    "elevenlabs-sound-effects-v2": "per_second",
    "sonilo-v1-1-music": "per_second",
    "seed-audio-1-0": "per_second",
    "elevenlabs-tts-v4": "per_thousand_characters",
    "elevenlabs-tts-v4-turbo": "per_thousand_characters",
    "elevenlabs-tts-v3": "per_thousand_characters",
    "elevenlabs-tts-multilingual-v2": "per_thousand_characters",
}


def music_specs(sandbox):
    body = client.get(sandbox.api_url + "/models", params={"type": "music"}).json()
    return {model["id"]: model["model_spec"] for model in body["data"]}


def test_the_catalogue_lists_section_3s_models_with_their_pricing_shapes(sandbox):
    specs = music_specs(sandbox)

    assert set(specs) >= SECTION_3_IDS
    assert "ace-step-v15" not in specs
    for model_id, shape in SECTION_3_PRICING.items():
        assert list(specs[model_id]["pricing"]) == [shape], model_id
    assert specs["minimax-music-v25"]["pricing"] == {"generation": {"usd": 0.69, "diem": 0.69}}
    assert specs["elevenlabs-sound-effects-v2"]["supports_loop"]
    tts = specs["elevenlabs-tts-v4"]
    assert tts["default_voice"] in tts["voices"] and tts["supports_custom_voice_id"]
    assert tts["min_speed"] < tts["default_speed"] < tts["max_speed"]
    for tier in specs["ace-step-15"]["pricing"]["durations"].values():
        assert set(tier) == {"usd", "diem", "min_seconds", "max_seconds"}


def test_ace_step_takes_lyrics_but_does_not_require_them(sandbox):
    spec = music_specs(sandbox)["ace-step-15"]

    assert spec["supports_lyrics"] and not spec["lyrics_required"]


def test_seed_audio_has_no_duration_metadata(sandbox):
    spec = music_specs(sandbox)["seed-audio-1-0"]

    assert not {"duration_options", "min_duration", "max_duration", "default_duration"} & set(spec)


def test_every_model_names_the_format_it_returns(sandbox):
    specs = music_specs(sandbox)

    assert all(spec["default_format"] in spec["supported_formats"] for spec in specs.values())
    formats = {spec["default_format"] for spec in specs.values()}
    assert formats == {"mp3", "wav"}
    assert specs["elevenlabs-music"]["default_format"] == "mp3"  # music commonly is (§8)
    assert specs["elevenlabs-tts-v4"]["default_format"] == "mp3"  # and speech


def test_music_catalogue_has_every_model_shape(sandbox):
    response = client.get(sandbox.api_url + "/models", params={"type": "music"})

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list" and body["type"] == "music"
    specs = {model["id"]: model["model_spec"] for model in body["data"]}
    assert all(isinstance(model["created"], int) for model in body["data"])
    assert specs["elevenlabs-music"]["supports_force_instrumental"]
    assert not specs["elevenlabs-music"]["supports_lyrics"]
    assert specs["minimax-music-v25"]["supports_lyrics_optimizer"]
    assert "min_duration" not in specs["minimax-music-v25"]
    assert any(s.get("duration_options") for s in specs.values())
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
