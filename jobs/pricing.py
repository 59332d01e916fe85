"""The price of a job: Venice's quote, and what the generate form shows next to the budgets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from venice import Model, errors
from venice.validation import valid_duration
from wallets import budgets
from wallets.venice import public_client

from . import keepers

# A quote is cached this long: typing fires one request per pause, not per key.
QUOTE_CACHE_S = 60
# A request asks for this many takes at most: each is a paid job, reserved together.
MAX_TAKES = 4


def price(model: Model, body: dict) -> Decimal:
    """Venice's quote for this body (free, no credentials)."""
    by_characters = model.spec.pricing and model.spec.pricing.kind == "per_thousand_characters"
    character_count = len(body["prompt"]) if by_characters else None
    return public_client().quote(
        model.id, duration_seconds=body.get("duration_seconds"), character_count=character_count
    )


def duration_for_quote(model: Model, raw: Any) -> int | None:
    """The duration the price is for: the member's if the model takes it (the queue's own rule),
    else the model's default."""
    spec = model.spec
    if not spec.has_duration:
        return None
    try:
        return valid_duration(spec, model.id, raw)
    except errors.InvalidRequest:
        return spec.default_duration or (spec.duration_options or (None,))[0]


def cached_price(model: Model, prompt: str, duration: int | None) -> Decimal:
    """Venice's quote, cached for a minute per model, duration and (when it matters) length."""
    by_characters = model.spec.pricing and model.spec.pricing.kind == "per_thousand_characters"
    text = (prompt or "").strip() or " "
    key = f"studio:quote:{model.id}:{duration}:{len(text) if by_characters else ''}"
    quote = cache.get(key)
    if quote is None:
        quote = price(model, {"prompt": text, "duration_seconds": duration})
        cache.set(key, quote, QUOTE_CACHE_S)
    return quote


def takes_asked(raw: Any) -> int:
    """The number of takes the form holds, as the quote shows it (the form refuses the rest)."""
    try:
        takes = int(raw)
    except (TypeError, ValueError):
        return 1
    return min(max(takes, 1), MAX_TAKES)


def quote_context(user, model: Model, data) -> dict:
    """The price of what the form holds (`data`: its fields), per take and for all its takes,
    next to the member's and the team's budgets for this month, and whether it fits them."""
    month = budgets.month_of(timezone.now())
    mine = budgets.member_budget(user.pk, month)
    team = budgets.team_budget(month)
    context = {"budget": mine, "team_budget": team, "month": month}
    duration = duration_for_quote(model, data.get("duration_seconds"))
    context["duration"] = duration
    try:
        quote = cached_price(model, data.get("prompt", ""), duration)
    except errors.VeniceError as exc:
        context["quote_error"] = f"Venice could not price this right now ({exc.message})."
        return context
    takes = takes_asked(data.get("takes"))
    total = quote * takes
    context.update(quote=quote, takes=takes, total=total)
    context["over_budget"] = total > mine.remaining_usd or total > team.remaining_usd
    context["team_short"] = team.remaining_usd < mine.remaining_usd
    # A library prompt's own keep rate when it has kept takes; else the model's.
    prompt_id = library_prompt_id(data.get("library_prompt"))
    if prompt_id:
        per_keeper, tally = keepers.expected_per_keeper(
            model.id, quote, prompt_id=prompt_id, user=user
        )
        context["prompt_keepers"] = tally
        if per_keeper is not None:
            context.update(per_keeper=per_keeper, keepers=tally, keepers_of="prompt")
            return context
    context["per_keeper"], context["keepers"] = keepers.expected_per_keeper(model.id, quote)
    context["keepers_of"] = "model"
    return context


def library_prompt_id(raw: Any) -> int | None:
    """The library prompt the form was opened from (its hidden field), if it holds one."""
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None
