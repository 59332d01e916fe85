"""Reads from Base (or the sandbox's local chain) that let an admin check Venice against the
chain: the wallet's USDC balance, and whether a top-up's transaction really moved the USDC.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from web3 import Web3
from web3.exceptions import TransactionNotFound

from venice.errors import UpstreamUnavailable
from venice.payments import USDC_BASE
from venice.siwx import BASE_CHAIN_ID
from venice.types import USDC_UNIT

TRANSFER_TOPIC = bytes(Web3.keccak(text="Transfer(address,address,uint256)"))
BALANCE_OF_ABI = [
    {
        "name": "balanceOf",
        "type": "function",
        "stateMutability": "view",
        "inputs": [{"name": "account", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    }
]
AUTHORIZATION_STATE_ABI = [
    {
        "name": "authorizationState",
        "type": "function",
        "stateMutability": "view",
        "inputs": [
            {"name": "authorizer", "type": "address"},
            {"name": "nonce", "type": "bytes32"},
        ],
        "outputs": [{"name": "", "type": "bool"}],
    }
]
RPC_TIMEOUT_S = 10


def _web3(rpc_url: str) -> Web3:
    if not rpc_url:
        raise UpstreamUnavailable("no chain RPC is configured (CHAIN_RPC_URL)")
    return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_S}))


def usdc_balance(rpc_url: str, address: str, *, token: str = USDC_BASE) -> Decimal:
    """The address's USDC balance in USD."""
    contract = _web3(rpc_url).eth.contract(
        address=Web3.to_checksum_address(token), abi=BALANCE_OF_ABI
    )
    try:
        raw = contract.functions.balanceOf(Web3.to_checksum_address(address)).call()
    except OSError as exc:  # requests' errors are OSErrors
        raise UpstreamUnavailable(f"the chain RPC at {rpc_url} failed: {exc}") from exc
    return Decimal(raw) / USDC_UNIT


def authorization_used(rpc_url: str, payer: str, nonce: str, *, token: str = USDC_BASE) -> bool:
    """Whether the EIP-3009 authorization ``(payer, nonce)`` was used on chain (its transfer
    happened) or cancelled. Past its ``validBefore`` an unused one can never be used: the
    answer is then final."""
    contract = _web3(rpc_url).eth.contract(
        address=Web3.to_checksum_address(token), abi=AUTHORIZATION_STATE_ABI
    )
    try:
        return bool(
            contract.functions.authorizationState(
                Web3.to_checksum_address(payer), bytes.fromhex(nonce.removeprefix("0x"))
            ).call()
        )
    except OSError as exc:  # requests' errors are OSErrors
        raise UpstreamUnavailable(f"the chain RPC at {rpc_url} failed: {exc}") from exc


@dataclass(frozen=True)
class TransferCheck:
    """Whether a transaction holds a USDC Transfer of exactly the expected amount from payer
    to receiver. ``reason`` says why not (empty when ``ok``)."""

    ok: bool
    reason: str
    block_number: int | None = None
    transferred_atomic: int = 0


def _topic_address(topic: bytes) -> str:
    return Web3.to_checksum_address(bytes(topic)[-20:])


def check_transfer(
    rpc_url: str,
    tx_hash: str,
    payer: str,
    pay_to: str,
    amount_atomic: int,
    *,
    token: str = USDC_BASE,
    chain_id: int = BASE_CHAIN_ID,
) -> TransferCheck:
    w3 = _web3(rpc_url)
    try:
        actual_chain = w3.eth.chain_id
        if actual_chain != chain_id:
            return TransferCheck(False, f"the RPC serves chain {actual_chain}, not {chain_id}")
        try:
            receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return TransferCheck(False, "no receipt: the transaction is unknown or still pending")
    except OSError as exc:
        raise UpstreamUnavailable(f"the chain RPC at {rpc_url} failed: {exc}") from exc

    block = receipt["blockNumber"]
    if receipt["status"] != 1:
        return TransferCheck(False, "the transaction reverted", block)
    payer, pay_to, token = (Web3.to_checksum_address(a) for a in (payer, pay_to, token))
    seen: list[str] = []
    moved = 0
    for log in receipt["logs"]:
        topics = log["topics"]
        if (
            Web3.to_checksum_address(log["address"]) != token
            or len(topics) != 3
            or bytes(topics[0]) != TRANSFER_TOPIC
        ):
            continue
        sender, receiver = _topic_address(topics[1]), _topic_address(topics[2])
        value = int.from_bytes(bytes(log["data"]), "big")
        if sender == payer and receiver == pay_to:
            moved += value
            if value == amount_atomic:
                return TransferCheck(True, "", block, value)
        seen.append(f"{value} from {sender} to {receiver}")
    if moved:
        return TransferCheck(
            False, f"the transfer moved {moved} base units, expected {amount_atomic}", block, moved
        )
    found = "; ".join(seen) or "none"
    return TransferCheck(
        False, f"no USDC Transfer from {payer} to {pay_to} (USDC transfers: {found})", block
    )
