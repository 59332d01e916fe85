"""A typed client for the Venice audio API and its x402 wallet credit.

Layered like the x402 SDK: ``types`` and ``errors`` (values), then the scheme logic
(``validation``, ``siwx``, ``payments``), then transport (``auth``, ``client``, ``chain``).
No Django here: Studio's apps import this package, never the other way round.
"""

from venice import errors
from venice.auth import ApiKeyAuth, WalletAuth
from venice.client import VeniceClient
from venice.types import (
    AudioResult,
    Balance,
    LedgerTransaction,
    Model,
    ModelSpec,
    Pricing,
    Processing,
    QueueOptions,
    SignedPayment,
    TopUpPolicy,
    TopUpResult,
)
from venice.validation import validate_queue

__all__ = [
    "ApiKeyAuth",
    "AudioResult",
    "Balance",
    "LedgerTransaction",
    "Model",
    "ModelSpec",
    "Pricing",
    "Processing",
    "QueueOptions",
    "SignedPayment",
    "TopUpPolicy",
    "TopUpResult",
    "VeniceClient",
    "WalletAuth",
    "errors",
    "validate_queue",
]
