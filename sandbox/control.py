"""The sandbox's control API (``/sandbox/...``): test money, faults, settings and stats.

Each handler takes the running ``SandboxApp`` and the request and returns a JSON-able
answer; ``ValueError``/``TypeError`` become a 400 ``{"error": ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from sandbox.messages import Request
from sandbox.money import usd, usd_from_atomic

if TYPE_CHECKING:
    from sandbox.app import SandboxApp


def health(app: SandboxApp, request: Request) -> dict[str, Any]:
    return {"ok": True, "apiUrl": app.api_url, "rpcUrl": app.base_url + "/sandbox/rpc"}


def faucet(app: SandboxApp, request: Request) -> dict[str, Any]:
    body = body_of(request, required=("address", "usdc"))
    transaction = app.faucet(body["address"], str(body["usdc"]))
    balance = app.chain.balance_of(body["address"])
    return {
        "transaction": transaction,
        "address": to_checksum_address(body["address"]),
        "balanceUsdc": str(usd_from_atomic(balance)),
    }


def api_key(app: SandboxApp, request: Request) -> dict[str, Any]:
    body = body_of(request, required=("usd",))
    return {"apiKey": app.create_api_key(str(body["usd"]))}


def set_fault(app: SandboxApp, request: Request) -> dict[str, Any]:
    body = body_of(request, required=("route",))
    options = {"status", "rate", "count", "delay_ms", "settlement_timeout", "code", "mode"}
    unknown = set(body) - options - {"route"}
    if unknown:
        raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
    app.set_fault(body["route"], **{k: v for k, v in body.items() if k in options})
    return {"ok": True}


def clear_faults(app: SandboxApp, request: Request) -> dict[str, Any]:
    app.clear_faults()
    return {"ok": True}


def configure(app: SandboxApp, request: Request) -> dict[str, Any]:
    return {"config": asdict(app.configure(**body_of(request)))}


def reset_config(app: SandboxApp, request: Request) -> dict[str, Any]:
    return {"config": asdict(app.reset_config())}


def stats(app: SandboxApp, request: Request) -> dict[str, Any]:
    return app.stats(request.param("wallet"))


def ledger(app: SandboxApp, request: Request) -> dict[str, Any]:
    body = body_of(request, required=("wallet", "type", "amount"))
    row = app.append_ledger(
        body["wallet"],
        body["type"],
        str(body["amount"]),
        body.get("requestId"),
        body.get("modelId"),
    )
    return {"transaction": row.as_json()}


def rpc(app: SandboxApp, request: Request) -> Any:
    try:
        payload = json.loads(request.body)
    except ValueError:
        return {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32700, "message": "Parse error"},
        }
    return app.chain.rpc(payload)


def decimal_of(value: Any, name: str) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} must be a number") from None
    if not number.is_finite():
        raise ValueError(f"{name} must be a number")
    return number


def positive_usd(value: Any, name: str) -> Decimal:
    amount = usd(decimal_of(value, name))
    if amount <= 0:
        raise ValueError(f"{name} must be positive")
    return amount


def body_of(request: Request, required: tuple[str, ...] = ()) -> dict[str, Any]:
    body = request.json(default={})
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    missing = [name for name in required if name not in body]
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}")
    return body


ROUTES: list[tuple[str, str, Callable[[SandboxApp, Request], Any]]] = [
    ("GET", "/health", health),
    ("POST", "/faucet", faucet),
    ("POST", "/apikeys", api_key),
    ("POST", "/faults", set_fault),
    ("DELETE", "/faults", clear_faults),
    ("POST", "/config", configure),
    ("POST", "/reset-config", reset_config),
    ("GET", "/stats", stats),
    ("POST", "/ledger", ledger),
    ("POST", "/rpc", rpc),
]
