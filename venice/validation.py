"""Check a queue request against the model's spec before it costs a network call.

Venice's queue is strict (§2): an option the model does not support is a 400, never silently
ignored. ``validate_queue`` applies the same rules locally so the generate form can point at the
field to fix, in a sentence a person can act on. Options left as None are omitted from the body,
so Venice applies the model's defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from venice.errors import InvalidRequest
from venice.types import ModelSpec, QueueOptions

_LANGUAGE_CODE = re.compile(r"^[a-z]{2}$")


# NUL and the other C0 controls except tab and newlines: no model wants them, and PostgreSQL
# cannot store a NUL at all.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_controls(field: str, value: object, what: str) -> None:
    if isinstance(value, str) and _CONTROL.search(value):
        raise _refuse(field, f"The {what} contains a control character; remove it.")


def _refuse(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, field=field)


def _unsupported(field: str, label: str, model: str) -> InvalidRequest:
    return _refuse(field, f"{model} does not take {label}; leave it empty for this model.")


def _check_bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _refuse(field, f"{field} must be true or false.")
    return value


def _range_text(low: object, high: object) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _number(value: Any) -> Decimal | None:
    """A finite number from an int, float, Decimal or numeric string; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def valid_duration(spec: ModelSpec, model: str, value: Any) -> int:
    """The model's rule for ``duration_seconds``: the whole seconds it takes, or InvalidRequest."""
    if not spec.has_duration:
        raise _unsupported("duration_seconds", "a duration", model)
    number = None if isinstance(value, float) else _number(value)
    if number is None or number != number.to_integral_value():
        raise _refuse("duration_seconds", "The duration must be a whole number of seconds.")
    seconds = int(number)
    if spec.duration_options:
        if seconds not in spec.duration_options:
            choices = ", ".join(str(d) for d in spec.duration_options)
            raise _refuse(
                "duration_seconds", f"{model} only makes tracks of {choices} seconds; pick one."
            )
        return seconds
    low, high = spec.min_duration, spec.max_duration
    if (low is not None and seconds < low) or (high is not None and seconds > high):
        raise _refuse(
            "duration_seconds",
            f"The duration must be {_range_text(low, high)} seconds for {model}.",
        )
    return seconds


def _speed(spec: ModelSpec, model: str, value: Any) -> float:
    if not spec.supports_speed:
        raise _unsupported("speed", "a speed", model)
    speed = _number(value)
    if speed is None:
        raise _refuse("speed", "The speed must be a number, such as 1.0.")
    low, high = spec.min_speed, spec.max_speed
    if (low is not None and speed < low) or (high is not None and speed > high):
        raise _refuse("speed", f"The speed must be {_range_text(low, high)} for {model}.")
    # Speed is a multiplier, not money: a JSON number is what Venice expects.
    return float(speed)


@dataclass(frozen=True)
class LyricsRule:
    """A model's lyrics rule that its model_spec does not show (§8): Venice answers 400 when
    the lyrics are shorter than ``minimum`` characters, unless a waiver is switched on."""

    minimum: int
    waived_by_instrumental: bool = False
    waived_by_optimizer: bool = False

    @property
    def always(self) -> bool:
        return not (self.waived_by_instrumental or self.waived_by_optimizer)


LYRICS_RULES = {
    "minimax-music-v25": LyricsRule(10, waived_by_instrumental=True, waived_by_optimizer=True),
    "minimax-music-v26": LyricsRule(10, waived_by_instrumental=True),
    "minimax-music-v2": LyricsRule(1),
}


def _check_lyrics_rule(
    model: str, lyrics: str | None, instrumental: bool | None, optimizer: bool | None
) -> None:
    rule = LYRICS_RULES.get(model)
    if rule is None or len(lyrics or "") >= rule.minimum:
        return
    if (rule.waived_by_instrumental and instrumental is True) or (
        rule.waived_by_optimizer and optimizer is True
    ):
        return
    unless = [
        name
        for name, on in (
            ("instrumental only", rule.waived_by_instrumental),
            ("the lyrics optimizer", rule.waived_by_optimizer),
        )
        if on
    ]
    need = "lyrics" if rule.minimum == 1 else f"lyrics of at least {rule.minimum} characters"
    raise _refuse(
        "lyrics_prompt",
        f"{model} needs {need}" + (f" (or {' or '.join(unless)})" if unless else "") + ".",
    )


def validate_queue(spec: ModelSpec, model: str, options: QueueOptions) -> dict[str, Any]:
    """Return the JSON body for ``POST /audio/queue``, or raise ``InvalidRequest`` with
    ``field`` set to the input that breaks the model's rules."""
    prompt, lyrics_prompt, voice = options.prompt, options.lyrics_prompt, options.voice
    language_code = options.language_code
    if spec.voice_changer:
        raise _refuse(
            "model", f"{model} is a voice changer, which cannot generate audio from a prompt."
        )
    if spec.offline:
        raise _refuse("model", f"{model} is offline at the moment; pick another model.")

    body: dict[str, Any] = {"model": model}

    _no_controls("prompt", prompt, "prompt")
    _no_controls("lyrics_prompt", lyrics_prompt, "lyrics")
    _no_controls("voice", voice, "voice")
    text = prompt.strip() if isinstance(prompt, str) else ""
    if len(text) < spec.min_prompt_length:
        raise _refuse(
            "prompt",
            f"The prompt needs at least {spec.min_prompt_length} characters (it has {len(text)}).",
        )
    if spec.prompt_character_limit is not None and len(text) > spec.prompt_character_limit:
        raise _refuse(
            "prompt",
            f"The prompt can be at most {spec.prompt_character_limit} characters for {model} "
            f"(it has {len(text)}); shorten it.",
        )
    body["prompt"] = text

    lyrics = lyrics_prompt.strip() if isinstance(lyrics_prompt, str) else lyrics_prompt
    if lyrics is not None and not isinstance(lyrics, str):
        raise _refuse("lyrics_prompt", "The lyrics must be text.")
    if lyrics:
        if not spec.supports_lyrics:
            raise _unsupported("lyrics_prompt", "lyrics", model)
        if len(lyrics) > spec.lyrics_character_limit:
            raise _refuse(
                "lyrics_prompt",
                f"The lyrics can be at most {spec.lyrics_character_limit} characters "
                f"(they have {len(lyrics)}); shorten them.",
            )
        body["lyrics_prompt"] = lyrics

    if (lyrics_optimizer := options.lyrics_optimizer) is not None:
        if not spec.supports_lyrics_optimizer:
            raise _unsupported("lyrics_optimizer", "the lyrics optimizer", model)
        if _check_bool("lyrics_optimizer", lyrics_optimizer) and lyrics:
            raise _refuse(
                "lyrics_optimizer",
                "The lyrics optimizer writes the lyrics itself: clear the lyrics or turn it off.",
            )
        body["lyrics_optimizer"] = lyrics_optimizer

    if options.force_instrumental is not None:
        if not spec.supports_force_instrumental:
            raise _unsupported("force_instrumental", "an instrumental switch", model)
        body["force_instrumental"] = _check_bool("force_instrumental", options.force_instrumental)

    if spec.lyrics_required and not lyrics:
        raise _refuse("lyrics_prompt", f"{model} needs lyrics; write some.")

    if options.duration_seconds is not None:
        body["duration_seconds"] = valid_duration(spec, model, options.duration_seconds)

    if voice is not None:
        if not spec.voices and not spec.supports_custom_voice_id:
            raise _unsupported("voice", "a voice", model)
        if not isinstance(voice, str) or not voice.strip():
            raise _refuse("voice", "Pick a voice.")
        voice = voice.strip()
        # Models that take custom provider voice ids accept any id; only Venice can check it.
        if voice not in spec.voices and not spec.supports_custom_voice_id:
            raise InvalidRequest(
                f"{voice!r} is not a voice of {model}; choose one of: {', '.join(spec.voices)}.",
                field="voice",
                details={"supported_voices": list(spec.voices)},
            )
        body["voice"] = voice

    if language_code is not None:
        if not spec.supports_language_code:
            raise _unsupported("language_code", "a language", model)
        code = language_code.strip().lower() if isinstance(language_code, str) else ""
        if not _LANGUAGE_CODE.match(code):
            raise _refuse(
                "language_code", "The language must be a two-letter ISO 639-1 code, such as en."
            )
        body["language_code"] = code

    if options.speed is not None:
        body["speed"] = _speed(spec, model, options.speed)

    if options.loop is not None:
        if not spec.supports_loop:
            raise _unsupported("loop", "looping", model)
        body["loop"] = _check_bool("loop", options.loop)

    # Last, as Venice checks them: the schema first, then the model's own rules.
    _check_lyrics_rule(model, lyrics, body.get("force_instrumental"), body.get("lyrics_optimizer"))
    return body
