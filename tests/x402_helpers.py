"""What an x402 top-up challenge on Base looks like, written out from the reference: the
client's tests, Studio's top-up tests and the sandbox's signing helpers build on it."""

from __future__ import annotations

USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
RECEIVER = "0x2670b922eF37C7dF47158725c0CC407b5382293F"
ATTACKER = "0x000000000000000000000000000000000000dEaD"

# EIP-3009's typed data: what a top-up's payment signs.
USDC_DOMAIN = {"name": "USD Coin", "version": "2", "chainId": 8453, "verifyingContract": USDC}
TRANSFER_WITH_AUTHORIZATION = [
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "validAfter", "type": "uint256"},
    {"name": "validBefore", "type": "uint256"},
    {"name": "nonce", "type": "bytes32"},
]


def accept(**changes) -> dict:
    """One of a challenge's `accepts`: 5 USDC on Base to Venice's receiver, with ``changes``."""
    return {
        "scheme": "exact",
        "network": "eip155:8453",
        "amount": "5000000",
        "asset": USDC,
        "payTo": RECEIVER,
        "maxTimeoutSeconds": 300,
        "extra": {"name": "USD Coin", "version": "2"},
        **changes,
    }
