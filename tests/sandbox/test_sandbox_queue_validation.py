"""POST /audio/queue checks every field against the model's model_spec, strictly."""

import pytest

from .sandbox_signing import client, funded, queue, siwx

MUSIC = {"model": "elevenlabs-music", "prompt": "warm lo-fi beat with vinyl crackle"}
SONG = {"model": "minimax-music-v25", "prompt": "an upbeat synth-pop anthem"}
SFX = {"model": "elevenlabs-sound-effects-v2", "prompt": "door creaks open"}
SPEECH = {"model": "elevenlabs-tts-v4", "prompt": "Welcome to the studio."}
LYRICS_FIRST = {
    "model": "ace-step-15",
    "prompt": "acoustic folk ballad",
    "lyrics_prompt": "la la la, the river runs",
}


@pytest.fixture
def account(sandbox):
    account = funded(sandbox, "20")
    return account


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**MUSIC, "lyrics_prompt": "words"}, "lyrics_prompt"),
        ({**MUSIC, "lyrics_optimizer": False}, "lyrics_optimizer"),
        ({**SFX, "force_instrumental": True}, "force_instrumental"),
        ({**SONG, "duration_seconds": 60}, "duration_seconds"),
        ({**MUSIC, "voice": "Rachel"}, "voice"),
        ({**MUSIC, "language_code": "en"}, "language_code"),
        ({**MUSIC, "speed": 1.0}, "speed"),
        ({**SPEECH, "loop": True}, "loop"),
    ],
)
def test_an_option_the_model_lacks_is_named(sandbox, account, body, field):
    response = queue(sandbox, account, **body)

    assert response.status_code == 400
    assert response.json()["details"]["field"] == field
    assert field in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**MUSIC, "duration_seconds": 9}, "duration_seconds"),
        ({**MUSIC, "duration_seconds": 301}, "duration_seconds"),
        ({**MUSIC, "duration_seconds": 30.5}, "duration_seconds"),
        ({**MUSIC, "duration_seconds": "thirty"}, "duration_seconds"),
        ({**MUSIC, "duration_seconds": True}, "duration_seconds"),
        ({**MUSIC, "force_instrumental": "yes"}, "force_instrumental"),
        ({**LYRICS_FIRST, "duration_seconds": 45}, "duration_seconds"),
        ({**SONG}, "lyrics_prompt"),  # minimax-music-v25 needs lyrics (§8)
        ({**SONG, "lyrics_prompt": "verse one", "lyrics_optimizer": True}, "lyrics_prompt"),
        ({**SONG, "lyrics_prompt": "x" * 3501}, "lyrics_prompt"),
        ({**SPEECH, "language_code": "english"}, "language_code"),
        ({**SPEECH, "speed": 1.5}, "speed"),
        ({**SPEECH, "speed": "fast"}, "speed"),
        ({**MUSIC, "prompt": "   too short   "}, "prompt"),
        ({**SONG, "prompt": "nine char"}, "prompt"),  # no min_prompt_length: default 10
        ({**SFX, "prompt": "x" * 451}, "prompt"),
        ({**SPEECH, "prompt": "   "}, "prompt"),
        ({"model": "elevenlabs-music"}, "prompt"),
        ({"prompt": "a song about the sea"}, "model"),
        ({**MUSIC, "model": 7}, "model"),
        ({**MUSIC, "model": "elevenlabs-voice-changer"}, "model"),
        ({**MUSIC, "model": "stable-audio-25"}, "model"),
    ],
)
def test_values_outside_the_spec_are_refused(sandbox, account, body, field):
    response = queue(sandbox, account, **body)

    assert response.status_code == 400, response.text
    assert response.json()["details"]["field"] == field


def test_an_unknown_voice_lists_the_supported_ones(sandbox, account):
    response = queue(sandbox, account, **SPEECH, voice="Morgan Freeman")

    assert response.status_code == 400
    details = response.json()["details"]
    assert details["field"] == "voice"
    assert "Rachel" in details["supported_voices"]


def test_unknown_fields_are_named(sandbox, account):
    response = queue(sandbox, account, **MUSIC, format="mp3")

    assert response.status_code == 400
    assert response.json()["details"]["unknown_fields"] == ["format"]


def test_unknown_model_is_404(sandbox, account):
    assert queue(sandbox, account, **{**MUSIC, "model": "nope"}).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {**MUSIC, "duration_seconds": "30", "force_instrumental": True},
        {**MUSIC, "prompt": "   exactly10!   "},  # trimmed before the length check
        {**SONG, "lyrics_optimizer": True},
        {**SONG, "force_instrumental": True},
        {**SONG, "lyrics_prompt": "[verse]\nhello neon night"},
        {**SFX, "duration_seconds": 22, "loop": True},
        {**SPEECH, "voice": "Bella", "speed": 0.8, "language_code": "fr"},
        {**SPEECH, "voice": "21m00Tcm4TlvDq8ikWAM"},  # a raw provider voice id
        {**SPEECH, "prompt": "Hi"},  # min_prompt_length 1
        {**LYRICS_FIRST, "duration_seconds": 120},
        {"model": "ace-step-15", "prompt": "acoustic folk ballad"},  # lyrics are optional
        {**LYRICS_FIRST, "lyrics_prompt": "   "},
    ],
)
def test_bodies_within_the_spec_are_queued(sandbox, account, body):
    response = queue(sandbox, account, **body)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "QUEUED" and answer["model"] == body["model"]
    assert answer["queue_id"]


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b""])
def test_a_body_that_is_not_an_object_is_refused(sandbox, account, raw):
    response = client.post(
        sandbox.api_url + "/audio/queue",
        headers={**siwx(account), "Content-Type": "application/json"},
        content=raw,
    )

    assert response.status_code == 400
