"""Reference §8's model rules and audio: MiniMax lyrics, Seed Audio, MP3 and WAV, ledger details.

Expected values are quoted from ``reference/venice-api.md`` (sections 3 and 8), never built
from sandbox code.
"""

import io
import wave
from urllib.parse import unquote

import pytest
from eth_account import Account
from mutagen.mp3 import MP3

from tests.browser_helpers import chromium

from .sandbox_signing import (
    client,
    complete,
    credit,
    funded,
    ledger,
    new_job,
    queue,
    retrieve,
    wait_for_result,
)


def refused_field(response):
    assert response.status_code == 400, response.text
    return response.json()["details"]["field"]


# -- MiniMax lyrics rules (400 if broken, not visible in model_spec) ------------------------

SONG = "an upbeat synth-pop anthem"


@pytest.mark.parametrize(
    "body",
    [
        {"model": "minimax-music-v25", "prompt": SONG},
        {"model": "minimax-music-v25", "prompt": SONG, "lyrics_prompt": "too short"},
        {"model": "minimax-music-v26", "prompt": SONG},
        {"model": "minimax-music-v26", "prompt": SONG, "lyrics_prompt": "la la la"},
        {"model": "minimax-music-v2", "prompt": SONG},
        {"model": "minimax-music-v2", "prompt": SONG, "lyrics_prompt": "   "},
    ],
)
def test_minimax_lyrics_rules_refuse(sandbox, body):
    assert refused_field(queue(sandbox, funded(sandbox, "20"), **body)) == "lyrics_prompt"


@pytest.mark.parametrize(
    "body",
    [
        {"model": "minimax-music-v25", "prompt": SONG, "lyrics_prompt": "ten chars!"},
        {"model": "minimax-music-v25", "prompt": SONG, "force_instrumental": True},
        {"model": "minimax-music-v25", "prompt": SONG, "lyrics_optimizer": True},
        {"model": "minimax-music-v26", "prompt": SONG, "lyrics_prompt": "neon nights, neon"},
        {"model": "minimax-music-v26", "prompt": SONG, "force_instrumental": True},
        {"model": "minimax-music-v2", "prompt": SONG, "lyrics_prompt": "la"},
        {"model": "ace-step-15", "prompt": "acoustic folk ballad"},  # lyrics optional
        {"model": "ace-step-15", "prompt": "acoustic folk ballad", "lyrics_prompt": "oh river"},
    ],
)
def test_minimax_lyrics_rules_allow(sandbox, body):
    response = queue(sandbox, funded(sandbox, "20"), **body)

    assert response.status_code == 200, response.text


def test_minimax_v26_has_no_optimizer_exemption(sandbox):
    body = {"model": "minimax-music-v26", "prompt": SONG, "lyrics_optimizer": True}

    assert refused_field(queue(sandbox, funded(sandbox, "20"), **body)) == "lyrics_optimizer"


# -- Seed Audio ------------------------------------------------------------------------------

SEED = "seed-audio-1-0"
SPOKEN = "Welcome back to the studio. Today we record the new single, take one."


def test_seed_audio_takes_no_duration(sandbox):
    wallet = funded(sandbox, "20")

    queued = queue(sandbox, wallet, model=SEED, prompt=SPOKEN, duration_seconds=30)
    quoted = client.post(sandbox.api_url + "/audio/quote", json={"model": SEED})

    assert refused_field(queued) == "duration_seconds"
    assert quoted.json() == {"quote": 0.24}  # its 120 s output cap at 0.002 USD a second


def test_seed_audio_reserves_its_cap_and_is_charged_for_the_real_length(sandbox):
    sandbox.configure(transactions_per_minute=1000)
    wallet = funded(sandbox, "0.3")

    queue_id = new_job(sandbox, wallet, model=SEED, prompt=SPOKEN)
    at_queue = ledger(sandbox, wallet)
    second = queue(sandbox, wallet, model=SEED, prompt=SPOKEN)  # 0.3 - 0.24 held < 0.24
    done = wait_for_result(sandbox, wallet, SEED, queue_id)
    after = ledger(sandbox, wallet)

    assert [row["type"] for row in at_queue["transactions"]] == ["TOP_UP"]
    assert second.status_code == 402
    assert "code" not in second.json()
    assert done.status_code == 200
    seconds = float(done.headers["x-venice-audio-duration"])
    assert 1 < seconds < 120
    charge = after["transactions"][0]
    assert charge["type"] == "CHARGE" and charge["requestId"] == queue_id
    assert charge["modelId"] == SEED
    assert charge["amount"] == -round(seconds * 0.002, 6)
    assert after["currentBalance"] == round(0.3 - seconds * 0.002, 6)
    assert unquote(done.headers["x-venice-audio-subtitle"]) == SPOKEN
    audio = MP3(io.BytesIO(done.content))
    assert abs(audio.info.length - seconds) < 0.1


def test_a_failed_seed_audio_job_is_never_charged(sandbox):
    sandbox.configure(transactions_per_minute=1000)
    wallet = funded(sandbox, "1")
    queue_id = new_job(sandbox, wallet, model=SEED, prompt="Say contraband twice.")

    failed = wait_for_result(sandbox, wallet, SEED, queue_id)

    assert failed.status_code == 422
    assert [row["type"] for row in ledger(sandbox, wallet)["transactions"]] == ["TOP_UP"]
    assert ledger(sandbox, wallet)["currentBalance"] == 1
    # The reservation is released: the whole balance can be spent again.
    assert queue(sandbox, wallet, model=SEED, prompt=SPOKEN).status_code == 200


# -- The audio itself -----------------------------------------------------------------------


def finished(sandbox, wallet, **body):
    queue_id = new_job(sandbox, wallet, **body)
    return wait_for_result(sandbox, wallet, body["model"], queue_id)


@pytest.mark.parametrize(
    ("body", "channels", "rate", "seconds"),
    [
        (
            {"model": "elevenlabs-music", "prompt": "calm piano at dusk", "duration_seconds": 30},
            2,
            44_100,
            30,
        ),
        (
            {"model": "elevenlabs-sound-effects-v2", "prompt": "door slam", "duration_seconds": 3},
            2,
            44_100,
            3,
        ),
        (
            {"model": "sonilo-v1-1-music", "prompt": "bright ukulele", "duration_seconds": 12},
            2,
            44_100,
            12,
        ),
    ],
)
def test_mp3_models_send_mp3_of_the_right_length(sandbox, body, channels, rate, seconds):
    done = finished(sandbox, funded(sandbox, "20"), **body)

    assert done.headers["content-type"] == "audio/mpeg"
    assert done.headers["x-venice-audio-format"] == "mp3"
    assert "x-venice-audio-duration" not in done.headers
    assert "x-venice-audio-subtitle" not in done.headers
    assert done.content[:2] == b"\xff\xfb"  # an MPEG-1 Layer III frame, no WAV header
    audio = MP3(io.BytesIO(done.content))
    assert (audio.info.channels, audio.info.sample_rate) == (channels, rate)
    assert abs(audio.info.length - seconds) < 0.1


@pytest.mark.parametrize(
    ("body", "seconds"),
    [
        ({"model": "ace-step-15", "prompt": "acoustic folk ballad", "duration_seconds": 30}, 30),
        ({"model": "lyria-3-pro", "prompt": "a slow orchestral swell"}, 30),
        ({"model": "mmaudio-v2-text-to-audio", "prompt": "rain on a tin roof"}, 8),
    ],
)
def test_the_other_models_send_wav(sandbox, body, seconds):
    done = finished(sandbox, funded(sandbox, "20"), **body)

    assert done.headers["content-type"] == "audio/wav"
    assert done.headers["x-venice-audio-format"] == "wav"
    assert "x-venice-audio-duration" not in done.headers
    with wave.open(io.BytesIO(done.content)) as audio:
        assert audio.getnframes() == seconds * audio.getframerate()


def test_a_browser_decodes_the_mp3(sandbox):
    import base64

    done = finished(
        sandbox,
        funded(sandbox, "20"),
        model="elevenlabs-music",
        prompt="calm piano at dusk",
        duration_seconds=10,
    )
    encoded = base64.b64encode(done.content).decode()

    with chromium() as browser:
        page = browser.new_page()
        decoded = page.evaluate(
            """async (data) => {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                const context = new OfflineAudioContext(2, 44100, 44100);
                const buffer = await context.decodeAudioData(bytes.buffer);
                const samples = buffer.getChannelData(0);
                let loudest = 0;
                for (const sample of samples) loudest = Math.max(loudest, Math.abs(sample));
                return {seconds: buffer.duration, channels: buffer.numberOfChannels, loudest};
            }""",
            encoded,
        )

    assert abs(decoded["seconds"] - 10) < 0.2
    assert decoded["channels"] == 2
    assert decoded["loudest"] > 0.05  # music, not silence


# -- complete, Content-Type, the ledger ------------------------------------------------------


def test_complete_can_answer_success_false_and_keep_the_media(sandbox):
    wallet = funded(sandbox, "20")
    model = "elevenlabs-tts-v4"
    queue_id = new_job(sandbox, wallet, model=model, prompt="Keep me.")
    wait_for_result(sandbox, wallet, model, queue_id)
    sandbox.set_fault("complete", mode="delete_failed", count=1)

    failed = complete(sandbox, wallet, model, queue_id)
    still_there = retrieve(sandbox, wallet, model, queue_id)
    deleted = complete(sandbox, wallet, model, queue_id)

    assert failed.status_code == 200 and failed.json() == {"success": False}
    assert still_there.status_code == 200
    assert deleted.json() == {"success": True}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_post_that_is_not_json_is_400(sandbox, content_type):
    headers = {"Content-Type": content_type} if content_type else {}

    response = client.post(
        sandbox.api_url + "/audio/quote",
        headers=headers,
        content=b'{"model": "elevenlabs-music"}',
    )

    assert response.status_code == 400
    assert set(response.json()) <= {"error", "details", "issues"}


def test_transactions_default_to_50_rows(sandbox):
    wallet = Account.create()
    for _ in range(55):
        credit(sandbox, wallet, "1")

    page = ledger(sandbox, wallet)

    assert len(page["transactions"]) == 50
    assert page["pagination"] == {"limit": 50, "offset": 0, "hasMore": True}
    assert len(ledger(sandbox, wallet, limit=100)["transactions"]) == 55


def test_a_charge_collects_what_is_left(sandbox):
    wallet = funded(sandbox, "0.5")
    sandbox.append_ledger(wallet.address, "CHARGE", "0.3", "req-1", "elevenlabs-music")
    sandbox.append_ledger(wallet.address, "CHARGE", "0.3", "req-1", "elevenlabs-music")

    rows = ledger(sandbox, wallet)["transactions"]

    assert [(row["type"], row["amount"], row["balanceAfter"]) for row in rows] == [
        ("CHARGE", -0.2, 0),
        ("CHARGE", -0.3, 0.2),
        ("TOP_UP", 0.5, 0.5),
    ]


def test_schema_errors_may_carry_details_as_a_string_and_issues(sandbox):
    garbled = client.post(
        sandbox.api_url + "/audio/quote",
        headers={"Content-Type": "application/json"},
        content=b"{not json",
    )
    unknown = client.post(
        sandbox.api_url + "/audio/quote", json={"model": "elevenlabs-music", "seed": 4}
    )

    assert garbled.status_code == 400
    assert isinstance(garbled.json()["error"], str)
    assert isinstance(garbled.json()["details"], str)  # a plain string, not a tree
    assert unknown.status_code == 400
    assert isinstance(unknown.json()["details"], dict)
    assert isinstance(unknown.json()["issues"], list) and unknown.json()["issues"]
