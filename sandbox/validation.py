"""Strict checking of audio request bodies against the model's ``model_spec``.

Venice never ignores an option silently: an unknown field, or an option the model does not
support, is a 400 that names it. Everything here is driven by the catalogue entry alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox.catalogue import (
    DEFAULT_LYRICS_CHARACTER_LIMIT,
    DEFAULT_MIN_PROMPT_LENGTH,
    check_duration,
    check_within,
    has_duration_metadata,
    is_character_priced,
    price_usd,
    serving_model,
)
from sandbox.errors import bad_request

_ISO_639_1_CODES = """
    aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv
    cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr
    ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw
    ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv
    ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr
    ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi
    yo za zh zu"""
ISO_639_1 = frozenset(_ISO_639_1_CODES.split())

# A raw provider voice id (ElevenLabs style), accepted by models with supports_custom_voice_id.
CUSTOM_VOICE_ID = re.compile(r"[A-Za-z0-9]{20}")

# Each optional queue field and the model_spec test that must pass for it to be sent at all.
_OPTION_SUPPORT = {
    "lyrics_prompt": lambda spec: spec["supports_lyrics"],
    "lyrics_optimizer": lambda spec: spec["supports_lyrics_optimizer"],
    "force_instrumental": lambda spec: spec["supports_force_instrumental"],
    "duration_seconds": has_duration_metadata,
    "voice": lambda spec: bool(spec["voices"]),
    "language_code": lambda spec: spec["supports_language_code"],
    "speed": lambda spec: spec["supports_speed"],
    "loop": lambda spec: spec["supports_loop"],
}
QUEUE_FIELDS = frozenset({"model", "prompt", *_OPTION_SUPPORT})
QUOTE_FIELDS = frozenset({"model", "duration_seconds", "character_count"})


@dataclass(frozen=True)
class AudioRequest:
    """A queue body that passed every check, with defaults filled in."""

    entry: dict[str, Any]
    prompt: str
    lyrics_prompt: str
    lyrics_optimizer: bool
    force_instrumental: bool
    duration_seconds: int | None
    voice: str | None
    language_code: str | None
    speed: float | None
    loop: bool

    @property
    def model_id(self) -> str:
        return self.entry["id"]

    def quote(self) -> Decimal:
        return price_usd(self.entry, self.duration_seconds, len(self.prompt))


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    return body


def _reject_unknown(body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        error = bad_request(f"Unrecognized field(s): {', '.join(unknown)}", unknown_fields=unknown)
        # Schema errors may also list `issues` (a zod-style list) beside `details`.
        error.fields["issues"] = [
            {"code": "unrecognized_keys", "keys": unknown, "path": [], "message": error.message}
        ]
        raise error


def _string(body: dict[str, Any], field: str) -> str:
    value = body[field]
    if not isinstance(value, str):
        raise bad_request(f"{field} must be a string", field=field)
    return value


def _boolean(body: dict[str, Any], field: str) -> bool:
    value = body[field]
    if not isinstance(value, bool):
        raise bad_request(f"{field} must be a boolean", field=field)
    return value


def _number(body: dict[str, Any], field: str) -> float:
    value = body[field]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"{field} must be a number", field=field)
    return float(value)


def _whole_number(body: dict[str, Any], field: str, *, numeric_string: bool) -> int:
    value = body[field]
    if numeric_string and isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    kind = "an integer or a numeric string" if numeric_string else "an integer"
    raise bad_request(f"{field} must be {kind}", field=field)


def _required_string(body: dict[str, Any], field: str) -> str:
    if field not in body:
        raise bad_request(f"{field} is required", field=field)
    return _string(body, field)


def _duration(body: dict[str, Any], spec: dict[str, Any]) -> int | None:
    """The requested duration, the model default, or None for models without duration data."""
    if "duration_seconds" not in body:
        return spec.get("default_duration")
    duration = _whole_number(body, "duration_seconds", numeric_string=True)
    check_duration(spec, duration)
    return duration


def parse_queue(body: Any) -> AudioRequest:
    body = _object(body)
    _reject_unknown(body, QUEUE_FIELDS)
    entry = serving_model(_required_string(body, "model"))
    spec, model_id = entry["model_spec"], entry["id"]
    if spec["offline"]:
        raise bad_request(f"Model {model_id} is offline", field="model")
    for field, supported in _OPTION_SUPPORT.items():
        if field in body and not supported(spec):
            raise bad_request(
                f"{field} is not supported by model {model_id}", field=field, model=model_id
            )

    prompt = _required_string(body, "prompt").strip()
    shortest = spec.get("min_prompt_length", DEFAULT_MIN_PROMPT_LENGTH)
    longest = spec["prompt_character_limit"]
    if not shortest <= len(prompt) <= longest:
        raise bad_request(
            f"prompt must be between {shortest} and {longest} characters",
            field="prompt",
            min_prompt_length=shortest,
            prompt_character_limit=longest,
        )

    lyrics = _string(body, "lyrics_prompt").strip() if "lyrics_prompt" in body else ""
    lyrics_limit = spec.get("lyrics_character_limit", DEFAULT_LYRICS_CHARACTER_LIMIT)
    if len(lyrics) > lyrics_limit:
        raise bad_request(
            f"lyrics_prompt must be at most {lyrics_limit} characters",
            field="lyrics_prompt",
            lyrics_character_limit=lyrics_limit,
        )
    if spec["lyrics_required"] and not lyrics:
        raise bad_request(f"lyrics_prompt is required by model {model_id}", field="lyrics_prompt")
    optimizer = _boolean(body, "lyrics_optimizer") if "lyrics_optimizer" in body else False
    if optimizer and lyrics:
        raise bad_request(
            "lyrics_prompt must be empty when lyrics_optimizer is true", field="lyrics_prompt"
        )
    instrumental = _boolean(body, "force_instrumental") if "force_instrumental" in body else False
    _check_lyrics_rule(entry, lyrics, force_instrumental=instrumental, lyrics_optimizer=optimizer)

    voice = spec.get("default_voice") if spec["voices"] else None
    if "voice" in body:
        voice = _string(body, "voice")
        custom = spec["supports_custom_voice_id"] and CUSTOM_VOICE_ID.fullmatch(voice)
        if voice not in spec["voices"] and not custom:
            raise bad_request(
                f"Voice {voice} is not supported by model {model_id}",
                field="voice",
                supported_voices=spec["voices"],
            )

    language = None
    if "language_code" in body:
        language = _string(body, "language_code")
        if language not in ISO_639_1:
            raise bad_request(
                "language_code must be an ISO 639-1 code such as 'en'", field="language_code"
            )

    speed = spec.get("default_speed") if spec["supports_speed"] else None
    if "speed" in body:
        speed = _number(body, "speed")
        check_within(spec, "speed", speed, "speed")

    return AudioRequest(
        entry=entry,
        prompt=prompt,
        lyrics_prompt=lyrics,
        lyrics_optimizer=optimizer,
        force_instrumental=instrumental,
        duration_seconds=_duration(body, spec),
        voice=voice,
        language_code=language,
        speed=speed,
        loop=_boolean(body, "loop") if "loop" in body else False,
    )


def _check_lyrics_rule(entry: dict[str, Any], lyrics: str, **flags: bool) -> None:
    """The MiniMax lyrics rules that ``model_spec`` does not spell out (reference §8)."""
    rule = entry["sandbox"].get("lyrics_rule")
    if rule is None or any(flags[name] for name in rule["unless"]):
        return
    if len(lyrics) < rule["min_characters"]:
        exempt = " or ".join(rule["unless"])
        raise bad_request(
            f"lyrics_prompt must be at least {rule['min_characters']} characters for model "
            f"{entry['id']}" + (f" unless {exempt} is set" if exempt else ""),
            field="lyrics_prompt",
        )


def parse_quote(body: Any) -> Decimal:
    """The USD quote for a ``/audio/quote`` body."""
    body = _object(body)
    _reject_unknown(body, QUOTE_FIELDS)
    entry = serving_model(_required_string(body, "model"))
    spec = entry["model_spec"]
    if spec["offline"]:
        raise bad_request(f"Model {entry['id']} is offline", field="model")
    if "duration_seconds" in body and not has_duration_metadata(spec):
        raise bad_request(
            f"duration_seconds is not supported by model {entry['id']}", field="duration_seconds"
        )
    characters = None
    if is_character_priced(spec):
        if "character_count" not in body:
            raise bad_request(
                f"character_count is required to quote model {entry['id']}",
                field="character_count",
            )
        characters = _whole_number(body, "character_count", numeric_string=False)
        if characters < 0:
            raise bad_request("character_count must not be negative", field="character_count")
    elif "character_count" in body:
        raise bad_request(
            f"character_count is only accepted for character-priced models, not {entry['id']}",
            field="character_count",
        )
    return price_usd(entry, _duration(body, spec), characters)


@dataclass(frozen=True)
class MediaRequest:
    """A retrieve or complete body: which job, and whether to delete it once sent."""

    model_id: str
    queue_id: str
    delete_media_on_completion: bool


def parse_media(body: Any, *, retrieve: bool) -> MediaRequest:
    body = _object(body)
    allowed = {"model", "queue_id"} | ({"delete_media_on_completion"} if retrieve else set())
    _reject_unknown(body, frozenset(allowed))
    model_id = serving_model(_required_string(body, "model"))["id"]
    queue_id = _required_string(body, "queue_id")
    delete = (
        _boolean(body, "delete_media_on_completion")
        if "delete_media_on_completion" in body
        else False
    )
    return MediaRequest(model_id, queue_id, delete)
