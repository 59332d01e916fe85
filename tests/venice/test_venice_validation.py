"""validate_queue against the four model shapes of §3, and ModelSpec parsing."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from venice import ModelSpec, QueueOptions, VeniceClient, errors, validate_queue


def durations(shortest: int, longest: int, default: int) -> dict:
    """A model_spec's duration range (§3), in seconds."""
    return {"min_duration": shortest, "max_duration": longest, "default_duration": default}


def prompt_length(shortest: int, longest: int) -> dict:
    """A model_spec's prompt length range (§3), in characters."""
    return {"min_prompt_length": shortest, "prompt_character_limit": longest}


# Realistic model_spec entries, one per pricing shape in §3.
ELEVENLABS_MUSIC = {
    "name": "ElevenLabs Music",
    "description": "Studio-quality music from a text prompt",
    "supports_lyrics": False,
    "supports_force_instrumental": True,
    **durations(10, 300, default=60),
    **prompt_length(10, 2000),
    "supported_formats": ["mp3", "wav"],
    "default_format": "mp3",
    "offline": False,
    "beta": False,
    "pricing": {
        "durations": {
            "short": {"usd": 0.35, "diem": 0.35, "min_seconds": 0, "max_seconds": 60},
            "long": {"usd": 0.69, "diem": 0.69, "min_seconds": 61, "max_seconds": 300},
        }
    },
}
MINIMAX_MUSIC = {
    "name": "MiniMax Music 2.5",
    "supports_lyrics": True,
    "lyrics_character_limit": 3000,
    "supports_lyrics_optimizer": True,
    "supports_force_instrumental": True,
    **prompt_length(10, 300),
    "pricing": {"generation": {"usd": 0.15, "diem": 0.15}},
}
SOUND_EFFECTS = {
    "name": "ElevenLabs Sound Effects v2",
    "supports_loop": True,
    **durations(1, 30, default=5),
    **prompt_length(3, 450),
    "pricing": {"per_second": {"usd": 0.002, "diem": 0.002}},
}
TTS = {
    "name": "ElevenLabs TTS v4",
    "voices": ["Rachel", "Adam", "Bella"],
    "default_voice": "Rachel",
    "supports_speed": True,
    "default_speed": 1.0,
    "min_speed": Decimal("0.7"),
    "max_speed": Decimal("1.2"),
    "supports_language_code": True,
    **prompt_length(1, 5000),
    "pricing": {"per_thousand_characters": {"usd": 0.18, "diem": 0.18}},
}
TIERED = {"duration_options": [30, "60", 90], "default_duration": 30}

music = ModelSpec.from_api(ELEVENLABS_MUSIC)
minimax = ModelSpec.from_api(MINIMAX_MUSIC)
sfx = ModelSpec.from_api(SOUND_EFFECTS)
tts = ModelSpec.from_api(TTS)
tiered = ModelSpec.from_api(TIERED)


def refused(spec: ModelSpec, **fields) -> errors.InvalidRequest:
    fields.setdefault("model", "m")
    fields.setdefault("prompt", "a calm piano piece at dusk")
    with pytest.raises(errors.InvalidRequest) as caught:
        validate_queue(spec, fields.pop("model"), QueueOptions(**fields))
    assert caught.value.message.endswith(".")  # a sentence, not a code
    assert caught.value.status is None  # raised locally
    return caught.value


def test_spec_parsing_applies_documented_defaults_and_reads_pricing():
    assert minimax.lyrics_character_limit == 3000
    assert sfx.lyrics_character_limit == 4096
    assert ModelSpec.from_api({}).min_prompt_length == 10
    assert music.pricing.kind == "durations"
    assert [t.usd for t in music.pricing.tiers] == [Decimal("0.35"), Decimal("0.69")]
    assert minimax.pricing.kind == "generation" and minimax.pricing.usd == Decimal("0.15")
    assert sfx.pricing.kind == "per_second"
    assert tts.pricing.kind == "per_thousand_characters"
    assert tiered.duration_options == (30, 60, 90)
    assert ModelSpec.from_api({"pricing": None}).pricing is None
    assert tts.raw["name"] == "ElevenLabs TTS v4"


def test_elevenlabs_music_duration_range_and_instrumental():
    body = validate_queue(
        music,
        "elevenlabs-music",
        QueueOptions(
            "  an upbeat synthwave track  ", duration_seconds="120", force_instrumental=True
        ),
    )
    assert body == {
        "model": "elevenlabs-music",
        "prompt": "an upbeat synthwave track",
        "duration_seconds": 120,
        "force_instrumental": True,
    }
    assert refused(music, duration_seconds=301).field == "duration_seconds"
    assert refused(music, duration_seconds="1.5").field == "duration_seconds"
    assert refused(music, duration_seconds=True).field == "duration_seconds"
    assert refused(music, lyrics_prompt="la la la").field == "lyrics_prompt"
    assert refused(music, voice="Rachel").field == "voice"
    assert refused(music, loop=True).field == "loop"
    assert refused(music, prompt="short").field == "prompt"
    assert refused(music, prompt="x" * 2001).field == "prompt"


def test_defaults_are_left_to_venice():
    assert validate_queue(music, "elevenlabs-music", QueueOptions("an upbeat synthwave track")) == {
        "model": "elevenlabs-music",
        "prompt": "an upbeat synthwave track",
    }


def test_minimax_lyrics_optimizer_and_no_duration():
    lyrics = "Yo ho, yo ho, a pirate's life"
    body = validate_queue(
        minimax, "minimax-music-v25", QueueOptions("a sea shanty", lyrics_prompt=lyrics)
    )
    assert body["lyrics_prompt"] == lyrics
    body = validate_queue(
        minimax, "minimax-music-v25", QueueOptions("a sea shanty", lyrics_optimizer=True)
    )
    assert body["lyrics_optimizer"] is True
    problem = refused(minimax, lyrics_prompt="Yo ho", lyrics_optimizer=True)
    assert problem.field == "lyrics_optimizer"
    assert refused(minimax, lyrics_prompt="x" * 3001).field == "lyrics_prompt"
    assert refused(minimax, duration_seconds=60).field == "duration_seconds"
    assert refused(minimax, lyrics_optimizer="yes").field == "lyrics_optimizer"


def test_lyrics_required():
    spec = ModelSpec.from_api({**MINIMAX_MUSIC, "lyrics_required": True})
    assert refused(spec).field == "lyrics_prompt"
    assert validate_queue(spec, "m", QueueOptions("a sea shanty", lyrics_prompt="Yo ho"))[
        "lyrics_prompt"
    ]


def test_sound_effects_loop_and_range():
    body = validate_queue(sfx, "elevenlabs-sound-effects-v2", QueueOptions("door creak", loop=True))
    assert body == {"model": "elevenlabs-sound-effects-v2", "prompt": "door creak", "loop": True}
    assert refused(sfx, duration_seconds=0).field == "duration_seconds"
    assert refused(sfx, force_instrumental=False).field == "force_instrumental"


def test_tts_voices_speed_language():
    body = validate_queue(
        tts,
        "elevenlabs-tts-v4",
        QueueOptions("Hello", voice="Adam", speed="1.1", language_code="EN"),
    )
    assert body == {
        "model": "elevenlabs-tts-v4",
        "prompt": "Hello",
        "voice": "Adam",
        "speed": 1.1,
        "language_code": "en",
    }
    problem = refused(tts, voice="Morgan")
    assert problem.field == "voice"
    assert problem.details["supported_voices"] == ["Rachel", "Adam", "Bella"]
    assert "Rachel" in problem.message
    assert refused(tts, speed=Decimal("1.5")).field == "speed"
    assert refused(tts, speed="fast").field == "speed"
    assert refused(tts, language_code="english").field == "language_code"
    assert refused(tts, prompt="   ").field == "prompt"


def test_custom_voice_ids_pass_through():
    spec = ModelSpec.from_api({**TTS, "supports_custom_voice_id": True})
    assert validate_queue(spec, "m", QueueOptions("Hello", voice="pNInz6obpgDQGcFmaJgB"))["voice"]


def test_duration_options():
    assert (
        validate_queue(tiered, "m", QueueOptions("a calm piano piece", duration_seconds=60))[
            "duration_seconds"
        ]
        == 60
    )
    problem = refused(tiered, duration_seconds=45)
    assert "30, 60, 90" in problem.message


def test_voice_changer_and_offline_models_are_refused():
    assert refused(ModelSpec.from_api({"voice_changer": True})).field == "model"
    assert refused(ModelSpec.from_api({"offline": True})).field == "model"


def test_queue_with_spec_validates_before_any_network_call():
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request should be sent")

    client = VeniceClient(auth=None, transport=httpx.MockTransport(handler), sleep=lambda _: None)
    with pytest.raises(errors.InvalidRequest) as caught:
        client.queue("elevenlabs-tts-v4", QueueOptions("Hello", voice="Morgan"), spec=tts)
    assert caught.value.field == "voice"


@pytest.mark.parametrize(
    ("model", "fields", "allowed"),
    [
        # §8: minimax-music-v25 needs 10+ characters unless instrumental or optimized.
        ("minimax-music-v25", {"lyrics_prompt": "Yo ho"}, False),
        ("minimax-music-v25", {}, False),
        ("minimax-music-v25", {"force_instrumental": True}, True),
        ("minimax-music-v25", {"lyrics_optimizer": True}, True),
        ("minimax-music-v25", {"lyrics_prompt": "Yo ho, yo ho"}, True),
        # minimax-music-v26: the same unless instrumental (no optimizer waiver).
        ("minimax-music-v26", {"lyrics_optimizer": True}, False),
        ("minimax-music-v26", {"force_instrumental": True}, True),
        # minimax-music-v2: any non-blank lyrics, always.
        ("minimax-music-v2", {"lyrics_prompt": "   "}, False),
        ("minimax-music-v2", {"force_instrumental": True}, False),
        ("minimax-music-v2", {"lyrics_prompt": "la"}, True),
    ],
)
def test_minimax_lyrics_rules_not_in_the_spec(model, fields, allowed):
    spec = ModelSpec.from_api({**MINIMAX_MUSIC, "supports_force_instrumental": True})
    if allowed:
        assert validate_queue(spec, model, QueueOptions("a sea shanty", **fields))["model"] == model
    else:
        with pytest.raises(errors.InvalidRequest) as caught:
            validate_queue(spec, model, QueueOptions("a sea shanty", **fields))
        assert caught.value.field == "lyrics_prompt" and caught.value.status is None
