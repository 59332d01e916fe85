"""The music model catalogue, cached: /models changes rarely and the form reads it often."""

from __future__ import annotations

import logging

from django.core.cache import cache

from venice import Model, errors
from wallets.venice import public_client

log = logging.getLogger(__name__)

CACHE_KEY = "venice:models:music"
FRESH_S = 300
# Kept much longer, and served when Venice cannot be reached, so the form keeps working.
STALE_KEY = CACHE_KEY + ":stale"
STALE_S = 7 * 24 * 3600


class CatalogueUnavailable(Exception):
    pass


def music_models() -> dict[str, Model]:
    models = cache.get(CACHE_KEY)
    if models is not None:
        return models
    try:
        fetched = public_client().models(type="music")
    except errors.VeniceError as exc:
        stale = cache.get(STALE_KEY)
        if stale is None:
            raise CatalogueUnavailable(f"Venice's model list is unavailable: {exc}") from exc
        log.warning("serving a stale model catalogue: %s", exc)
        return stale
    models = {model.id: model for model in fetched}
    cache.set(CACHE_KEY, models, FRESH_S)
    cache.set(STALE_KEY, models, STALE_S)
    return models


def usable_models() -> dict[str, Model]:
    """Models a member can pick: online, and not voice changers (those need other endpoints)."""
    return {
        model_id: model
        for model_id, model in music_models().items()
        if not model.spec.offline and not model.spec.voice_changer
    }


def get_model(model_id: str) -> Model | None:
    return music_models().get(model_id)
