"""POST /audio/quote for the four pricing shapes, no authentication needed."""

import pytest

from .sandbox_signing import client


def quote(sandbox, **body):
    return client.post(sandbox.api_url + "/audio/quote", json=body)


@pytest.mark.parametrize(
    ("body", "price"),
    [
        ({"model": "elevenlabs-music"}, 0.5),  # default 60 s: first tier
        ({"model": "elevenlabs-music", "duration_seconds": 120}, 1.2),
        ({"model": "elevenlabs-music", "duration_seconds": "300"}, 2.0),
        ({"model": "ace-step-15", "duration_seconds": 240}, 0.8),
        ({"model": "minimax-music-v25"}, 0.69),
        ({"model": "elevenlabs-sound-effects-v2", "duration_seconds": 10}, 0.06),
        ({"model": "elevenlabs-sound-effects-v2"}, 0.03),  # default 5 s
        ({"model": "elevenlabs-tts-v4", "character_count": 2500}, 0.45),
        ({"model": "elevenlabs-tts-v4", "character_count": 1}, 0.00018),
    ],
)
def test_quotes_follow_each_pricing_shape(sandbox, body, price):
    response = quote(sandbox, **body)

    assert response.status_code == 200, response.text
    assert response.json() == {"quote": price}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"model": "elevenlabs-music", "prompt": "x"}, 400, None),
        ({"model": "elevenlabs-tts-v4"}, 400, "character_count"),
        ({"model": "elevenlabs-music", "character_count": 10}, 400, "character_count"),
        ({"model": "minimax-music-v25", "duration_seconds": 60}, 400, "duration_seconds"),
        ({"model": "elevenlabs-music", "duration_seconds": 5}, 400, "duration_seconds"),
        ({"model": "ace-step-15", "duration_seconds": 45}, 400, "duration_seconds"),
        ({"model": "elevenlabs-voice-changer"}, 400, "model"),
        ({"model": "stable-audio-25"}, 400, "model"),  # offline, and no pricing published
        ({"duration_seconds": 30}, 400, "model"),
        ({"model": "no-such-model"}, 404, None),
    ],
)
def test_bad_quotes_are_refused(sandbox, body, status, field):
    response = quote(sandbox, **body)

    assert response.status_code == status, response.text
    if field:
        assert response.json()["details"]["field"] == field


def test_unknown_fields_are_named(sandbox):
    response = quote(sandbox, model="elevenlabs-music", format="mp3", seed=4)

    assert response.status_code == 400
    assert response.json()["details"]["unknown_fields"] == ["format", "seed"]
