"""Median cost of the two signatures Studio makes: a SIWX header (every request) and a top-up
payment (rare). Target: SIWX under 2 ms median.

    .venv/bin/python bench/siwx_sign.py [iterations] [--json]

`run(quick)` is bench/run.py's entry point; `siwx_sign_us` is its headline figure.
"""

from __future__ import annotations

import base64
import json
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_account import Account  # noqa: E402

from venice import TopUpPolicy  # noqa: E402
from venice.payments import USDC_BASE, choose_offer, parse_challenge, sign_top_up  # noqa: E402
from venice.siwx import sign_in_header  # noqa: E402

CHALLENGE = {
    "x402Version": 2,
    "accepts": [
        {
            "scheme": "exact",
            "network": "eip155:8453",
            "amount": "5000000",
            "asset": USDC_BASE,
            "payTo": "0x2670b922ef37c7df47158725c0cc407b5382293f",
            "maxTimeoutSeconds": 300,
            "extra": {"name": "USD Coin", "version": "2"},
        }
    ],
}


def median_us(action: Callable[[], object], iterations: int) -> float:
    for _ in range(min(20, iterations)):  # warm caches and lazy imports
        action()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        action()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def measure(iterations: int) -> dict:
    account = Account.create()
    header = base64.b64encode(json.dumps(CHALLENGE).encode()).decode()
    offer = choose_offer(parse_challenge(None, header))
    policy = TopUpPolicy(max_per_topup_usd=Decimal(50), max_per_day_usd=Decimal(100))

    siwx = median_us(lambda: sign_in_header(account), iterations)
    top_up = median_us(lambda: sign_top_up(account, offer, 10_000_000, policy), iterations)
    return {
        "siwx_sign_us": round(siwx, 1),
        "topup_sign_us": round(top_up, 1),
        "iterations": iterations,
        "siwx_target_us": 2000,
        "siwx_vs_target": round(siwx / 2000, 3),
    }


def run(quick: bool = False) -> dict:
    return measure(100 if quick else 500)


def main() -> None:
    args = [arg for arg in sys.argv[1:] if arg != "--json"]
    iterations = int(args[0]) if args else 500
    results = measure(iterations)
    if "--json" in sys.argv:
        print(json.dumps(results, indent=2))
        return
    siwx, top_up = results["siwx_sign_us"], results["topup_sign_us"]
    print(f"SIWX header sign:      {siwx:8.1f} us median over {iterations} (target < 2000)")
    print(f"top-up payload create: {top_up:8.1f} us median over {iterations}")


if __name__ == "__main__":
    main()
