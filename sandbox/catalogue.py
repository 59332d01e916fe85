"""The music/audio model catalogue, its four pricing shapes, and how long each job runs.

``MUSIC_MODELS`` is the single source: ``model_spec`` is served as-is by ``GET /models``;
the ``sandbox`` part (never served) says how the simulator runs the model.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from sandbox.errors import ApiError, bad_request
from sandbox.money import usd

DEFAULT_MIN_PROMPT_LENGTH = 10
DEFAULT_LYRICS_CHARACTER_LIMIT = 4096

_TTS_VOICES = ["Rachel", "Adam", "Bella", "Antoni", "Domi", "Elli", "Josh", "Sam"]

_NOTHING_SUPPORTED: dict[str, Any] = {
    "supports_lyrics": False,
    "lyrics_required": False,
    "supports_lyrics_optimizer": False,
    "supports_force_instrumental": False,
    "supports_loop": False,
    "supports_language_code": False,
    "supports_speed": False,
    "voices": [],
    "supports_custom_voice_id": False,
    "supported_formats": ["mp3"],
    "default_format": "mp3",
    "offline": False,
    "beta": False,
    "voice_changer": False,
}
_WAV = {"supported_formats": ["wav"], "default_format": "wav"}

# How the sandbox renders each kind of output (never served).
_MUSIC_AUDIO = {"sample_rate": 44_100, "channels": 2, "reports_audio_duration": False}
_SPEECH_AUDIO = {"sample_rate": 24_000, "channels": 1, "reports_audio_duration": False}


def _tiers(*tiers: tuple[str, float, int, int]) -> dict[str, Any]:
    return {
        "durations": {
            name: {"usd": usd, "diem": usd, "min_seconds": low, "max_seconds": high}
            for name, usd, low, high in tiers
        }
    }


def _flat(kind: str, amount: float) -> dict[str, Any]:
    return {kind: {"usd": amount, "diem": amount}}


def _music(
    model_id: str, created: int, spec: dict[str, Any], run: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": model_id,
        "created": created,
        "model_spec": {**_NOTHING_SUPPORTED, **spec},
        "sandbox": {**_MUSIC_AUDIO, **run},
    }


def _speech(model_id: str, created: int, name: str, rate: float, **spec: Any) -> dict[str, Any]:
    """An ElevenLabs TTS model: priced per thousand characters, voices and speed."""
    return {
        "id": model_id,
        "created": created,
        "model_spec": {
            **_NOTHING_SUPPORTED,
            "name": name,
            "description": "Text to speech; the prompt is the text to speak.",
            "pricing": _flat("per_thousand_characters", rate),
            "voices": _TTS_VOICES,
            "default_voice": "Rachel",
            "supports_custom_voice_id": True,
            "supports_speed": True,
            "default_speed": 1.0,
            "min_speed": 0.7,
            "max_speed": 1.2,
            "supports_language_code": True,
            "min_prompt_length": 1,
            "prompt_character_limit": 5000,
            **spec,
        },
        "sandbox": {
            **_SPEECH_AUDIO,
            "p80_base_s": 5.0,
            "p80_per_character_s": 0.003,
            "characters_per_second": 15.0,
        },
    }


_MINIMAX = {
    "supports_lyrics": True,
    "lyrics_character_limit": 3500,
    "prompt_character_limit": 2000,
    "pricing": _flat("generation", 0.69),
}
# MiniMax songs come out 90..180 s long, chosen by the prompt.
_MINIMAX_RUN = {"p80_base_s": 150.0, "song_seconds": (90, 180)}


def _lyrics_rule(minimum: int, *unless: str) -> dict[str, Any]:
    """Lyrics of at least ``minimum`` characters, unless one of the ``unless`` flags is set."""
    return {"lyrics_rule": {"min_characters": minimum, "unless": unless}}


def _elevenlabs_music(up_to_60s: float, up_to_180s: float, up_to_300s: float) -> dict[str, Any]:
    """What ElevenLabs' music models share: 10 to 300 s, three price tiers, instrumental on
    request."""
    return {
        "pricing": _tiers(
            ("up_to_60s", up_to_60s, 10, 60),
            ("up_to_180s", up_to_180s, 61, 180),
            ("up_to_300s", up_to_300s, 181, 300),
        ),
        "supports_force_instrumental": True,
        "min_duration": 10,
        "max_duration": 300,
        "default_duration": 60,
        "min_prompt_length": 10,
        "prompt_character_limit": 2000,
    }


MUSIC_MODELS: tuple[dict[str, Any], ...] = (
    _music(
        "elevenlabs-music",
        1_754_006_400,
        {
            "name": "ElevenLabs Music",
            "description": "Studio-grade songs and instrumentals from a text prompt.",
            **_elevenlabs_music(0.5, 1.2, 2.0),
        },
        {"p80_base_s": 75.0, "p80_per_audio_s": 0.35},
    ),
    _music(
        "elevenlabs-music-v2-5",
        1_761_955_200,
        {
            "name": "ElevenLabs Music v2.5",
            "description": "Songs and instrumentals, with sharper vocals.",
            **_elevenlabs_music(0.6, 1.4, 2.4),
        },
        {"p80_base_s": 70.0, "p80_per_audio_s": 0.3},
    ),
    _music(
        "lyria-3-pro",
        1_762_473_600,
        {
            **_WAV,
            "name": "Lyria 3 Pro",
            "description": "Instrumental pieces from a text prompt, about 30 seconds each.",
            "pricing": _flat("generation", 0.4),
            "prompt_character_limit": 2000,
        },
        {"sample_rate": 48_000, "p80_base_s": 40.0, "song_seconds": (30, 30)},
    ),
    _music(
        "sonilo-v1-1-music",
        1_760_659_200,
        {
            "name": "Sonilo v1.1 Music",
            "description": "Instrumental music billed by the second.",
            "pricing": _flat("per_second", 0.004),
            "min_duration": 5,
            "max_duration": 180,
            "default_duration": 30,
            "min_prompt_length": 5,
            "prompt_character_limit": 1000,
        },
        {"p80_base_s": 20.0, "p80_per_audio_s": 0.2},
    ),
    _music(
        "stable-audio-25",
        1_746_057_600,
        # Listed but offline: clients must learn to hide it.
        {
            **_WAV,
            "name": "Stable Audio 2.5",
            "description": "Instrumental music and soundscapes (currently offline).",
            "pricing": _flat("generation", 0.2),
            "min_duration": 1,
            "max_duration": 190,
            "default_duration": 30,
            "min_prompt_length": 10,
            "prompt_character_limit": 2000,
            "offline": True,
        },
        {"p80_base_s": 30.0},
    ),
    _music(
        "minimax-music-v25",
        1_758_240_000,
        # No min_prompt_length or duration metadata: clients must fall back to the defaults.
        # Lyrics of 10+ characters are required unless force_instrumental or the optimizer:
        # a rule model_spec does not spell out (reference §8).
        {
            **_MINIMAX,
            "name": "MiniMax Music 2.5",
            "description": "Full songs with vocals: bring lyrics, let the optimizer write them, "
            "or ask for an instrumental.",
            "supports_lyrics_optimizer": True,
            "supports_force_instrumental": True,
        },
        {**_MINIMAX_RUN, **_lyrics_rule(10, "force_instrumental", "lyrics_optimizer")},
    ),
    _music(
        "minimax-music-v26",
        1_763_337_600,
        # Lyrics of 10+ characters unless force_instrumental (reference §8).
        {
            **_MINIMAX,
            "name": "MiniMax Music 2.6",
            "description": "Full songs with vocals from your lyrics, or an instrumental.",
            "supports_force_instrumental": True,
        },
        {**_MINIMAX_RUN, **_lyrics_rule(10, "force_instrumental")},
    ),
    _music(
        "minimax-music-v2",
        1_748_736_000,
        # Needs a non-blank lyrics_prompt (reference §8); lyrics_required is not set.
        {**_MINIMAX, "name": "MiniMax Music 2", "description": "Songs from your lyrics."},
        {**_MINIMAX_RUN, **_lyrics_rule(1)},
    ),
    _music(
        "ace-step-15",
        1_759_276_800,
        {
            **_WAV,
            "name": "ACE-Step 1.5",
            "description": "Songs from a style prompt, with or without your lyrics, in fixed "
            "lengths.",
            "pricing": _tiers(
                ("30s", 0.15, 30, 30),
                ("60s", 0.25, 60, 60),
                ("120s", 0.45, 120, 120),
                ("240s", 0.8, 240, 240),
            ),
            "supports_lyrics": True,
            "duration_options": [30, 60, 120, 240],
            "min_duration": 30,
            "max_duration": 240,
            "default_duration": 60,
            "min_prompt_length": 10,
            "prompt_character_limit": 1000,
            "beta": True,
        },
        {"p80_base_s": 45.0, "p80_per_audio_s": 0.25},
    ),
    _music(
        "elevenlabs-sound-effects-v2",
        1_751_328_000,
        {
            "name": "ElevenLabs Sound Effects v2",
            "description": "Short sound effects and loops.",
            "pricing": _flat("per_second", 0.006),
            "supports_loop": True,
            "min_duration": 1,
            "max_duration": 22,
            "default_duration": 5,
            "min_prompt_length": 3,
            "prompt_character_limit": 450,
        },
        {"p80_base_s": 8.0, "p80_per_audio_s": 0.2},
    ),
    _music(
        "sonilo-v1-1-sound-effects",
        1_760_659_200,
        {
            **_WAV,
            "name": "Sonilo v1.1 Sound Effects",
            "description": "Sound effects billed by the second.",
            "pricing": _flat("per_second", 0.003),
            "min_duration": 1,
            "max_duration": 30,
            "default_duration": 5,
            "min_prompt_length": 3,
            "prompt_character_limit": 500,
        },
        {"p80_base_s": 6.0, "p80_per_audio_s": 0.1},
    ),
    _music(
        "mmaudio-v2-text-to-audio",
        1_757_030_400,
        {
            **_WAV,
            "name": "MMAudio v2",
            "description": "Ambient sound and foley from a text prompt.",
            "pricing": _flat("generation", 0.05),
            "min_duration": 1,
            "max_duration": 10,
            "default_duration": 8,
            "min_prompt_length": 3,
            "prompt_character_limit": 500,
        },
        {"sample_rate": 16_000, "channels": 1, "p80_base_s": 10.0},
    ),
    _speech("elevenlabs-tts-v4", 1_756_684_800, "ElevenLabs TTS v4", 0.18),
    _speech("elevenlabs-tts-v4-turbo", 1_756_684_800, "ElevenLabs TTS v4 Turbo", 0.09),
    _speech("elevenlabs-tts-v3", 1_743_465_600, "ElevenLabs TTS v3", 0.18),
    _speech("elevenlabs-tts-multilingual-v2", 1_725_148_800, "ElevenLabs Multilingual v2", 0.18),
    {
        "id": "seed-audio-1-0",
        "created": 1_762_905_600,
        # Takes no duration_seconds: it reserves its 120 s output cap when queued and is
        # charged on completion for the real length (reference §8).
        "model_spec": {
            **_NOTHING_SUPPORTED,
            "name": "Seed Audio 1.0",
            "description": "Speech and sung narration; the prompt is the text to voice.",
            "pricing": _flat("per_second", 0.002),
            "min_prompt_length": 1,
            "prompt_character_limit": 1500,
        },
        "sandbox": {
            **_SPEECH_AUDIO,
            "reports_audio_duration": True,
            "output_cap_s": 120,
            "p80_base_s": 12.0,
            "p80_per_character_s": 0.01,
            "characters_per_second": 14.0,
        },
    },
    {
        "id": "elevenlabs-voice-changer",
        "created": 1_751_328_000,
        # Re-voices an upload: served by another endpoint (400 here), and unpriced here.
        "model_spec": {
            **_NOTHING_SUPPORTED,
            "name": "ElevenLabs Voice Changer",
            "description": "Re-voices an uploaded recording (served by the voice changer API).",
            "voices": _TTS_VOICES,
            "default_voice": "Adam",
            "voice_changer": True,
            "min_duration": 1,
            "max_duration": 300,
            "default_duration": 30,
        },
        "sandbox": {},
    },
)

_BY_ID = {entry["id"]: entry for entry in MUSIC_MODELS}


def find_model(model_id: str) -> dict[str, Any] | None:
    return _BY_ID.get(model_id)


def listing(model_type: str) -> dict[str, Any]:
    """The ``GET /models`` answer; only ``music`` lists anything here."""
    data = []
    if model_type == "music":
        data = [
            {
                "id": e["id"],
                "object": "model",
                "created": e["created"],
                "type": "music",
                "owned_by": "venice.ai",
                "model_spec": e["model_spec"],
            }
            for e in MUSIC_MODELS
        ]
    return {"object": "list", "type": model_type, "data": data}


def serving_model(model_id: str) -> dict[str, Any]:
    """A model the audio endpoints can run, or the error Venice gives for it."""
    entry = find_model(model_id)
    if entry is None:
        raise ApiError(404, f"Model {model_id} not found")
    spec = entry["model_spec"]
    if spec["voice_changer"]:
        raise bad_request(
            f"Model {model_id} is a voice changer model and is not available on this endpoint",
            field="model",
        )
    return entry


def has_duration_metadata(spec: dict[str, Any]) -> bool:
    return bool(spec.get("duration_options")) or "min_duration" in spec


def check_duration(spec: dict[str, Any], duration: int) -> None:
    options = spec.get("duration_options")
    if options:
        if duration not in options:
            raise bad_request(
                f"duration_seconds must be one of {options}",
                field="duration_seconds",
                duration_options=options,
            )
    else:
        check_within(spec, "duration_seconds", duration, "duration")


def check_within(spec: dict[str, Any], field: str, value: float, limit: str) -> None:
    """``value`` between the spec's ``min_<limit>`` and ``max_<limit>``, or Venice's 400 naming
    both bounds."""
    low, high = spec[f"min_{limit}"], spec[f"max_{limit}"]
    if not low <= value <= high:
        raise bad_request(
            f"{field} must be between {low} and {high}",
            field=field,
            **{f"min_{limit}": low, f"max_{limit}": high},
        )


def price_usd(entry: dict[str, Any], duration: int | None, characters: int | None) -> Decimal:
    """The quote for one job; ``duration`` is already resolved to the model default."""
    spec = entry["model_spec"]
    pricing = spec.get("pricing")
    if not pricing:
        raise bad_request(f"Pricing is not available for model {entry['id']}", field="model")
    if "generation" in pricing:
        return usd(pricing["generation"]["usd"])
    if "per_second" in pricing:
        # Seed Audio takes no duration: its quote is for the output cap it reserves.
        seconds = duration if duration is not None else entry["sandbox"]["output_cap_s"]
        return usd(Decimal(str(pricing["per_second"]["usd"])) * seconds)
    if "per_thousand_characters" in pricing:
        assert characters is not None
        rate = Decimal(str(pricing["per_thousand_characters"]["usd"]))
        return usd(rate * characters / 1000)
    assert duration is not None
    for tier in pricing["durations"].values():
        if tier["min_seconds"] <= duration <= tier["max_seconds"]:
            return usd(tier["usd"])
    raise bad_request("duration_seconds is outside every priced tier", field="duration_seconds")


def is_character_priced(spec: dict[str, Any]) -> bool:
    return "per_thousand_characters" in (spec.get("pricing") or {})


def _unit_interval(*parts: str) -> float:
    """A number in [0, 1) fixed by ``parts``: the sandbox's only source of 'randomness'."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def audio_seconds(
    entry: dict[str, Any], duration: int | None, prompt: str, speed: float | None
) -> float:
    """How long the generated audio is."""
    run = entry["sandbox"]
    if duration is not None:
        return float(duration)
    if "characters_per_second" in run:
        seconds = max(1.0, len(prompt) / run["characters_per_second"] / (speed or 1.0))
        return round(min(seconds, run.get("output_cap_s", seconds)), 2)
    shortest, longest = run["song_seconds"]
    return float(shortest + int(_unit_interval(entry["id"], prompt) * (longest - shortest + 1)))


def p80_execution_s(entry: dict[str, Any], seconds_of_audio: float, characters: int) -> float:
    """The simulated time within which 80% of such jobs finish (what retrieve reports)."""
    run = entry["sandbox"]
    return (
        run["p80_base_s"]
        + run.get("p80_per_audio_s", 0.0) * seconds_of_audio
        + run.get("p80_per_character_s", 0.0) * characters
    )


def execution_s(p80_s: float, queue_id: str, fastest: float = 0.5) -> float:
    """This job's actual simulated run time, fixed by its queue id.

    Uniform from ``fastest`` x P80 to the point that puts exactly 80% of jobs within P80
    (``fastest`` 0.5 gives 0.5..1.125 x P80).
    """
    slowest = fastest + (1 - fastest) / 0.8
    return p80_s * (fastest + (slowest - fastest) * _unit_interval("run", queue_id))


def charged_on_completion(entry: dict[str, Any]) -> bool:
    """Seed Audio reserves its cap at queue time and is charged for the real length later."""
    return "output_cap_s" in entry["sandbox"]


def completion_charge(entry: dict[str, Any], seconds: float) -> Decimal:
    rate = Decimal(str(entry["model_spec"]["pricing"]["per_second"]["usd"]))
    return usd(rate * Decimal(str(seconds)))


def installments(entry: dict[str, Any], total: Decimal) -> list[Decimal]:
    """The CHARGE rows a job is billed in.

    Per-second models bill in two installments under one request id, as Venice may: clients
    have to sum a request's charges rather than assume one row per job.
    """
    if "per_second" not in (entry["model_spec"].get("pricing") or {}):
        return [total]
    first = usd(total / 2)
    return [first, total - first]
