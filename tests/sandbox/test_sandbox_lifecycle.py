"""queue -> PROCESSING -> audio bytes -> complete -> 404, and who may see which job."""

import io
import time
import wave

from mutagen.mp3 import MP3

from .sandbox_signing import (
    client,
    complete,
    funded,
    funded_job,
    ledger,
    new_job,
    queue,
    retrieve,
    wait_for_result,
)


def test_a_job_goes_from_queued_to_audio_to_deleted(sandbox):
    wallet = funded(sandbox)
    model = "elevenlabs-music"
    queued = queue(
        sandbox, wallet, model=model, prompt="  calm piano over soft rain  ", duration_seconds=10
    )
    assert queued.status_code == 200
    queue_id = queued.json()["queue_id"]

    first = retrieve(sandbox, wallet, model, queue_id)
    assert first.status_code == 200
    progress = first.json()
    assert progress["status"] == "PROCESSING"
    # Real milliseconds: 78.5 simulated seconds at the session's 0.005 time scale.
    assert progress["average_execution_time"] == 392
    assert 0 <= progress["execution_duration"] < progress["average_execution_time"] * 1.2

    done = wait_for_result(sandbox, wallet, model, queue_id)
    assert done.status_code == 200
    assert done.headers["content-type"] == "audio/mpeg"  # its default_format is mp3
    assert done.headers["x-venice-audio-format"] == "mp3"
    assert done.headers["x-venice-model-id"] == model
    assert done.headers["x-venice-model-name"] == "ElevenLabs Music"
    assert "x-venice-audio-duration" not in done.headers  # Seed Audio's alone (§8)
    assert 0 < float(done.headers["x-venice-inference-time"]) < 1
    assert int(done.headers["content-length"]) == len(done.content)
    audio = MP3(io.BytesIO(done.content))
    assert (audio.info.channels, audio.info.sample_rate) == (2, 44_100)
    assert abs(audio.info.length - 10) < 0.1

    assert complete(sandbox, wallet, model, queue_id).json() == {"success": True}
    assert retrieve(sandbox, wallet, model, queue_id).status_code == 404
    assert complete(sandbox, wallet, model, queue_id).status_code == 404


def test_delete_media_on_completion_deletes_after_sending(sandbox):
    wallet = funded(sandbox)
    queue_id = queue(sandbox, wallet, model="elevenlabs-tts-v4", prompt="Hello, team.").json()[
        "queue_id"
    ]

    done = wait_for_result(
        sandbox, wallet, "elevenlabs-tts-v4", queue_id, delete_media_on_completion=True
    )

    assert done.headers["content-type"] == "audio/mpeg"
    audio = MP3(io.BytesIO(done.content))
    assert (audio.info.channels, audio.info.sample_rate) == (1, 24_000)
    assert "x-venice-audio-duration" not in done.headers
    assert retrieve(sandbox, wallet, "elevenlabs-tts-v4", queue_id).status_code == 404


def test_media_can_be_fetched_again_until_completed(sandbox):
    wallet, queue_id = funded_job(sandbox, "elevenlabs-tts-v4", "Twice.")

    first = wait_for_result(sandbox, wallet, "elevenlabs-tts-v4", queue_id)
    second = retrieve(sandbox, wallet, "elevenlabs-tts-v4", queue_id)

    assert second.content == first.content


def test_completing_a_running_job_is_refused(sandbox):
    wallet, queue_id = funded_job(
        sandbox, "minimax-music-v25", "slow jazz for a rainy night", force_instrumental=True
    )

    assert complete(sandbox, wallet, "minimax-music-v25", queue_id).status_code == 400


def test_media_expires_after_the_retention_time(sandbox):
    sandbox.configure(media_retention_s=200)  # one real second at the session's time scale
    wallet = funded(sandbox)
    queue_id = queue(sandbox, wallet, model="elevenlabs-tts-v4", prompt="Short lived.").json()[
        "queue_id"
    ]

    first = wait_for_result(sandbox, wallet, "elevenlabs-tts-v4", queue_id)
    time.sleep(1.1)

    assert first.status_code == 200
    assert retrieve(sandbox, wallet, "elevenlabs-tts-v4", queue_id).status_code == 404


def test_other_peoples_and_unknown_jobs_are_invalid(sandbox):
    owner, stranger = funded(sandbox), funded(sandbox)
    queue_id = queue(sandbox, owner, model="elevenlabs-tts-v4", prompt="Private.").json()[
        "queue_id"
    ]

    for account, model, job in [
        (stranger, "elevenlabs-tts-v4", queue_id),
        (owner, "elevenlabs-music", queue_id),  # right id, wrong model
        (owner, "elevenlabs-tts-v4", "123e4567-e89b-12d3-a456-426614174000"),
    ]:
        response = retrieve(sandbox, account, model, job)
        assert response.status_code == 400
        assert response.json()["error"] == "Request ID is invalid."
        assert complete(sandbox, account, model, job).status_code == 400


def test_the_charge_lands_at_acceptance(sandbox):
    wallet, queue_id = funded_job(
        sandbox, "minimax-music-v25", "an upbeat synth-pop anthem", lyrics_optimizer=True
    )

    data = ledger(sandbox, wallet)
    charge = data["transactions"][0]
    assert charge["type"] == "CHARGE" and charge["amount"] == -0.69  # charges are negative
    assert charge["requestId"] == queue_id and charge["modelId"] == "minimax-music-v25"
    assert data["currentBalance"] == 4.31


def test_per_second_models_charge_in_two_rows(sandbox):
    wallet, queue_id = funded_job(
        sandbox,
        "elevenlabs-sound-effects-v2",
        "thunder rolling in the distance",
        duration_seconds=11,
    )

    charges = [row for row in ledger(sandbox, wallet)["transactions"] if row["type"] == "CHARGE"]
    assert len(charges) == 2
    assert {row["requestId"] for row in charges} == {queue_id}
    assert round(sum(row["amount"] for row in charges), 6) == -0.066


def test_audio_depends_on_prompt_and_duration(sandbox):
    wallet = funded(sandbox)
    model = "elevenlabs-sound-effects-v2"

    def audio(prompt, seconds):
        queue_id = new_job(sandbox, wallet, model=model, prompt=prompt, duration_seconds=seconds)
        return wait_for_result(sandbox, wallet, model, queue_id).content

    base = audio("glass shattering", 2)
    assert audio("glass shattering", 2) == base
    assert audio("glass shattering", 3)[:1000] != base[:1000]
    assert audio("a bell ringing", 2) != base


def test_a_faster_than_life_benchmark_can_send_shorter_tracks(sandbox):
    wallet = funded(sandbox)
    model = "sonilo-v1-1-sound-effects"  # a WAV model: its frames can be counted exactly
    sandbox.configure(audio_scale=0.25)
    queue_id = new_job(sandbox, wallet, model=model, prompt="glass shattering", duration_seconds=4)
    with wave.open(io.BytesIO(wait_for_result(sandbox, wallet, model, queue_id).content)) as wav:
        assert wav.getnframes() == wav.getframerate()  # a quarter of 4 s


def test_api_key_accounts_run_jobs_too(sandbox):
    key = sandbox.create_api_key("3")
    bearer = {"Authorization": f"Bearer {key}"}
    body = {"model": "elevenlabs-tts-v4", "prompt": "Paid by key."}

    queued = client.post(sandbox.api_url + "/audio/queue", headers=bearer, json=body)
    assert queued.status_code == 200
    queue_id = queued.json()["queue_id"]
    while True:
        done = client.post(
            sandbox.api_url + "/audio/retrieve",
            headers=bearer,
            json={"model": "elevenlabs-tts-v4", "queue_id": queue_id},
        )
        if done.headers["content-type"] != "application/json":
            break
        time.sleep(0.02)

    assert done.status_code == 200 and done.headers["content-type"] == "audio/mpeg"
    stranger = funded(sandbox, "1")
    assert retrieve(sandbox, stranger, "elevenlabs-tts-v4", queue_id).status_code == 400


def test_an_unknown_api_key_is_401(sandbox):
    response = client.post(
        sandbox.api_url + "/audio/queue",
        headers={"Authorization": "Bearer vsk_nope"},
        json={"model": "elevenlabs-tts-v4", "prompt": "Hi"},
    )

    assert response.status_code == 401
