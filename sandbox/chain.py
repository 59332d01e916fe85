"""A single-token stand-in for Base: USDC balances, EIP-3009 transfers, blocks and receipts.

Simulated in Python and served over JSON-RPC with just the methods web3.py needs to read
balances and check settlements (see sandbox/README.md for why not a real EVM). Every
transaction is mined at once in a block of its own. Reads answer from the latest state
whatever block they name.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address
from x402.mechanisms.evm.eip712 import hash_domain, hash_eip3009_authorization
from x402.mechanisms.evm.types import ExactEIP3009Authorization, TypedDataDomain
from x402.mechanisms.evm.verify import verify_eoa_signature

CHAIN_ID = 8453
USDC_ADDRESS = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
USDC_NAME = "USD Coin"
USDC_VERSION = "2"
USDC_SYMBOL = "USDC"
USDC_DECIMALS = 6
ZERO_ADDRESS = "0x" + "00" * 20
# Who submits transactions in the sandbox: Venice's settlement relayer, and the faucet.
RELAYER_ADDRESS = to_checksum_address(keccak(text="venice-sandbox relayer")[-20:])
FAUCET_ADDRESS = to_checksum_address(keccak(text="venice-sandbox faucet")[-20:])

TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")
MINT_TOPIC = keccak(text="Mint(address,address,uint256)")
AUTHORIZATION_USED_TOPIC = keccak(text="AuthorizationUsed(address,bytes32)")
# eth_getCode must say a contract lives at the USDC address; there is no real bytecode.
_PLACEHOLDER_CODE = "0x" + keccak(text="venice-sandbox usdc").hex()
_GAS_PRICE = 10_000_000  # 0.01 gwei, Base's usual order of magnitude
_BLOCK_GAS_LIMIT = 150_000_000

_TRANSFER_WITH_AUTHORIZATION = (
    "transferWithAuthorization("
    "address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
)
_MINT = "mint(address,uint256)"


def _selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


def _topic_for(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def _hex(value: int) -> str:
    return hex(value)


def _data_hex(value: bytes) -> str:
    return "0x" + value.hex()


class ChainRevert(Exception):
    """A transaction the token contract would revert; nothing changed."""


@dataclass(frozen=True)
class Log:
    address: str
    topics: tuple[bytes, ...]
    data: bytes


@dataclass
class Transaction:
    hash: bytes
    sender: str
    nonce: int
    input: bytes
    gas_used: int
    logs: list[Log]
    block_number: int = 0


@dataclass
class Block:
    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    transactions: list[Transaction] = field(default_factory=list)


def _bloom(logs: list[Log]) -> bytes:
    """The 2048-bit log bloom of the yellow paper, so bloom-filtering clients stay correct."""
    bits = 0
    for log in logs:
        for item in (bytes.fromhex(log.address[2:]), *log.topics):
            digest = keccak(item)
            for offset in (0, 2, 4):
                bits |= 1 << (int.from_bytes(digest[offset : offset + 2], "big") & 2047)
    return bits.to_bytes(256, "big")


class LocalChain:
    """USDC on a private Base: the faucet mints, Venice settles top-ups with EIP-3009."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._balances: dict[str, int] = {}
        self._used_authorizations: set[tuple[str, bytes]] = set()
        self._total_supply = 0
        self._nonces: dict[str, int] = {}
        # A random genesis makes every hash unique to this chain, so hashes stored by a
        # client never collide with another sandbox run's.
        genesis = Block(0, keccak(os.urandom(32)), bytes(32), int(time.time()))
        self._blocks: list[Block] = [genesis]
        self._transactions: dict[bytes, Transaction] = {}

    # -- state changes -------------------------------------------------------------------

    def mint(self, to: str, amount: int) -> str:
        """Faucet: create ``amount`` base units for ``to``; returns the transaction hash."""
        to = to_checksum_address(to)
        call = _selector(_MINT) + encode(["address", "uint256"], [to, amount])
        with self._lock:
            self._balances[to] = self._balances.get(to, 0) + amount
            self._total_supply += amount
            logs = [
                Log(
                    USDC_ADDRESS,
                    (MINT_TOPIC, _topic_for(FAUCET_ADDRESS), _topic_for(to)),
                    encode(["uint256"], [amount]),
                ),
                Log(
                    USDC_ADDRESS,
                    (TRANSFER_TOPIC, _topic_for(ZERO_ADDRESS), _topic_for(to)),
                    encode(["uint256"], [amount]),
                ),
            ]
            return self._mine(FAUCET_ADDRESS, call, 60_000, logs)

    def transfer_with_authorization(
        self, authorization: ExactEIP3009Authorization, signature: bytes
    ) -> str:
        """Run USDC's ``transferWithAuthorization`` as the relayer; returns the tx hash."""
        payer = to_checksum_address(authorization.from_address)
        payee = to_checksum_address(authorization.to)
        value = int(authorization.value)
        nonce = bytes.fromhex(authorization.nonce.removeprefix("0x"))
        now = int(time.time())
        with self._lock:
            if (payer, nonce) in self._used_authorizations:
                raise ChainRevert("FiatTokenV2: authorization is used or canceled")
            if now <= int(authorization.valid_after):
                raise ChainRevert("FiatTokenV2: authorization is not yet valid")
            if now >= int(authorization.valid_before):
                raise ChainRevert("FiatTokenV2: authorization is expired")
            if not verify_eip3009_signature(authorization, signature):
                raise ChainRevert("FiatTokenV2: invalid signature")
            if self._balances.get(payer, 0) < value:
                raise ChainRevert("ERC20: transfer amount exceeds balance")
            self._used_authorizations.add((payer, nonce))
            self._balances[payer] -= value
            self._balances[payee] = self._balances.get(payee, 0) + value
            v, r, s = signature[64], signature[:32], signature[32:64]
            call = _selector(_TRANSFER_WITH_AUTHORIZATION) + encode(
                [
                    "address",
                    "address",
                    "uint256",
                    "uint256",
                    "uint256",
                    "bytes32",
                    "uint8",
                    "bytes32",
                    "bytes32",
                ],
                [
                    payer,
                    payee,
                    value,
                    int(authorization.valid_after),
                    int(authorization.valid_before),
                    nonce,
                    v if v >= 27 else v + 27,
                    r,
                    s,
                ],
            )
            logs = [
                Log(USDC_ADDRESS, (AUTHORIZATION_USED_TOPIC, _topic_for(payer), nonce), b""),
                Log(
                    USDC_ADDRESS,
                    (TRANSFER_TOPIC, _topic_for(payer), _topic_for(payee)),
                    encode(["uint256"], [value]),
                ),
            ]
            return self._mine(RELAYER_ADDRESS, call, 86_000, logs)

    def _mine(self, sender: str, call: bytes, gas_used: int, logs: list[Log]) -> str:
        parent = self._blocks[-1]
        nonce = self._nonces.get(sender, 0)
        self._nonces[sender] = nonce + 1
        tx_hash = keccak(
            self._blocks[0].hash + bytes.fromhex(sender[2:]) + nonce.to_bytes(8, "big") + call
        )
        block_number = parent.number + 1
        transaction = Transaction(tx_hash, sender, nonce, call, gas_used, logs, block_number)
        timestamp = max(parent.timestamp, int(time.time()))
        block_hash = keccak(parent.hash + block_number.to_bytes(8, "big") + tx_hash)
        self._blocks.append(Block(block_number, block_hash, parent.hash, timestamp, [transaction]))
        self._transactions[tx_hash] = transaction
        return _data_hex(tx_hash)

    # -- reads ---------------------------------------------------------------------------

    def balance_of(self, address: str) -> int:
        with self._lock:
            return self._balances.get(to_checksum_address(address), 0)

    def authorization_used(self, authorizer: str, nonce: bytes) -> bool:
        with self._lock:
            return (to_checksum_address(authorizer), nonce) in self._used_authorizations

    # -- JSON-RPC ------------------------------------------------------------------------

    def rpc(self, payload: Any) -> Any:
        """Answer one JSON-RPC request object or a batch (list) of them."""
        if isinstance(payload, list):
            return [self._rpc_one(item) for item in payload]
        return self._rpc_one(payload)

    def _rpc_one(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return _rpc_error(None, -32600, "Invalid request")
        request_id = request.get("id")
        method = _RPC_METHODS.get(request["method"])
        if method is None:
            return _rpc_error(request_id, -32601, f"Method {request['method']} not supported")
        params = request.get("params") or []
        try:
            with self._lock:
                result = method(self, *params)
        except ChainRevert as revert:
            return _rpc_error(request_id, 3, f"execution reverted: {revert}", "0x")
        except Exception as error:  # malformed hex, ABI data or arguments: the caller's fault
            return _rpc_error(request_id, -32602, f"Invalid params: {error}")
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _block_at(self, tag: str) -> Block | None:
        if tag in ("latest", "pending", "safe", "finalized"):
            return self._blocks[-1]
        number = 0 if tag == "earliest" else int(tag, 16)
        return self._blocks[number] if 0 <= number < len(self._blocks) else None

    def _eth_chain_id(self) -> str:
        return _hex(CHAIN_ID)

    def _net_version(self) -> str:
        return str(CHAIN_ID)

    def _client_version(self) -> str:
        return "venice-sandbox/1"

    def _eth_block_number(self) -> str:
        return _hex(self._blocks[-1].number)

    def _eth_gas_price(self) -> str:
        return _hex(_GAS_PRICE)

    def _eth_get_balance(self, address: str, block: str = "latest") -> str:
        return "0x0"  # native ETH: nobody here pays gas

    def _eth_get_transaction_count(self, address: str, block: str = "latest") -> str:
        return _hex(self._nonces.get(to_checksum_address(address), 0))

    def _eth_get_code(self, address: str, block: str = "latest") -> str:
        return _PLACEHOLDER_CODE if address.lower() == USDC_ADDRESS.lower() else "0x"

    def _eth_call(self, call: dict[str, Any], block: str = "latest") -> str:
        if (call.get("to") or "").lower() != USDC_ADDRESS.lower():
            return "0x"
        data = bytes.fromhex((call.get("data") or call.get("input") or "0x")[2:])
        reader = _USDC_READS.get(data[:4])
        if reader is None:
            raise ChainRevert("function not available on the sandbox token")
        types, answer = reader
        return _data_hex(answer(self, *decode(types, data[4:])))

    def _eth_get_transaction_by_hash(self, tx_hash: str) -> dict[str, Any] | None:
        transaction = self._transactions.get(bytes.fromhex(tx_hash[2:]))
        return self._transaction_json(transaction) if transaction else None

    def _eth_get_transaction_receipt(self, tx_hash: str) -> dict[str, Any] | None:
        transaction = self._transactions.get(bytes.fromhex(tx_hash[2:]))
        if transaction is None:
            return None
        block = self._blocks[transaction.block_number]
        return {
            "transactionHash": _data_hex(transaction.hash),
            "transactionIndex": "0x0",
            "blockHash": _data_hex(block.hash),
            "blockNumber": _hex(block.number),
            "from": transaction.sender.lower(),
            "to": USDC_ADDRESS.lower(),
            "cumulativeGasUsed": _hex(transaction.gas_used),
            "gasUsed": _hex(transaction.gas_used),
            "effectiveGasPrice": _hex(_GAS_PRICE),
            "contractAddress": None,
            "logs": self._logs_json(block, transaction),
            "logsBloom": _data_hex(_bloom(transaction.logs)),
            "status": "0x1",
            "type": "0x2",
        }

    def _eth_get_block_by_number(self, tag: str, full: bool = False) -> dict[str, Any] | None:
        block = self._block_at(tag)
        return self._block_json(block, full) if block else None

    def _eth_get_block_by_hash(self, block_hash: str, full: bool = False) -> dict[str, Any] | None:
        wanted = bytes.fromhex(block_hash[2:])
        block = next((b for b in self._blocks if b.hash == wanted), None)
        return self._block_json(block, full) if block else None

    def _eth_get_logs(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        if "blockHash" in query:
            wanted = bytes.fromhex(query["blockHash"][2:])
            blocks = [b for b in self._blocks if b.hash == wanted]
        else:
            first = self._block_at(query.get("fromBlock", "latest"))
            last = self._block_at(query.get("toBlock", "latest"))
            blocks = self._blocks[first.number : last.number + 1] if first and last else []
        addresses = query.get("address") or []
        if isinstance(addresses, str):
            addresses = [addresses]
        addresses = {a.lower() for a in addresses}
        topic_filters = query.get("topics") or []
        found = []
        for block in blocks:
            for transaction in block.transactions:
                for entry in self._logs_json(block, transaction):
                    if addresses and entry["address"] not in addresses:
                        continue
                    if _topics_match(entry["topics"], topic_filters):
                        found.append(entry)
        return found

    def _logs_json(self, block: Block, transaction: Transaction) -> list[dict[str, Any]]:
        return [
            {
                "address": log.address.lower(),
                "topics": [_data_hex(topic) for topic in log.topics],
                "data": _data_hex(log.data),
                "blockNumber": _hex(block.number),
                "blockHash": _data_hex(block.hash),
                "transactionHash": _data_hex(transaction.hash),
                "transactionIndex": "0x0",
                "logIndex": _hex(index),
                "removed": False,
            }
            for index, log in enumerate(transaction.logs)
        ]

    def _transaction_json(self, transaction: Transaction) -> dict[str, Any]:
        block = self._blocks[transaction.block_number]
        return {
            "hash": _data_hex(transaction.hash),
            "nonce": _hex(transaction.nonce),
            "blockHash": _data_hex(block.hash),
            "blockNumber": _hex(block.number),
            "transactionIndex": "0x0",
            "from": transaction.sender.lower(),
            "to": USDC_ADDRESS.lower(),
            "value": "0x0",
            "gas": _hex(transaction.gas_used + 20_000),
            "gasPrice": _hex(_GAS_PRICE),
            "maxFeePerGas": _hex(_GAS_PRICE),
            "maxPriorityFeePerGas": "0x0",
            "input": _data_hex(transaction.input),
            "type": "0x2",
            "chainId": _hex(CHAIN_ID),
            "accessList": [],
            # Sandbox transactions are not signed by anyone; these only keep the shape.
            "v": "0x0",
            "yParity": "0x0",
            "r": _data_hex(keccak(transaction.hash)),
            "s": _data_hex(keccak(keccak(transaction.hash))),
        }

    def _block_json(self, block: Block, full: bool) -> dict[str, Any]:
        logs = [log for t in block.transactions for log in t.logs]
        gas_used = sum(t.gas_used for t in block.transactions)
        return {
            "number": _hex(block.number),
            "hash": _data_hex(block.hash),
            "parentHash": _data_hex(block.parent_hash),
            "nonce": "0x0000000000000000",
            "mixHash": _data_hex(bytes(32)),
            "sha3Uncles": _data_hex(keccak(bytes.fromhex("c0"))),
            "logsBloom": _data_hex(_bloom(logs)),
            "transactionsRoot": _data_hex(keccak(b"".join(t.hash for t in block.transactions))),
            "stateRoot": _data_hex(keccak(block.hash)),
            "receiptsRoot": _data_hex(keccak(keccak(block.hash))),
            "miner": ZERO_ADDRESS,
            "difficulty": "0x0",
            "totalDifficulty": "0x0",
            "extraData": "0x",
            "size": _hex(600 + 300 * len(block.transactions)),
            "gasLimit": _hex(_BLOCK_GAS_LIMIT),
            "gasUsed": _hex(gas_used),
            "baseFeePerGas": _hex(_GAS_PRICE),
            "timestamp": _hex(block.timestamp),
            "transactions": [
                self._transaction_json(t) if full else _data_hex(t.hash) for t in block.transactions
            ],
            "uncles": [],
        }

    # -- USDC view functions (called with the lock held) ----------------------------------

    def _usdc_balance_of(self, address: str) -> bytes:
        return encode(["uint256"], [self._balances.get(to_checksum_address(address), 0)])

    def _usdc_authorization_state(self, authorizer: str, nonce: bytes) -> bytes:
        used = (to_checksum_address(authorizer), nonce) in self._used_authorizations
        return encode(["bool"], [used])

    def _usdc_total_supply(self) -> bytes:
        return encode(["uint256"], [self._total_supply])


def verify_eip3009_signature(authorization: ExactEIP3009Authorization, signature: bytes) -> bool:
    """Whether ``authorization.from`` signed this transfer under USDC-on-Base's EIP-712 domain."""
    digest = hash_eip3009_authorization(
        authorization, CHAIN_ID, USDC_ADDRESS, USDC_NAME, USDC_VERSION
    )
    try:
        return verify_eoa_signature(digest, signature, authorization.from_address)
    except ValueError:
        return False


def _topics_match(topics: list[str], filters: list[Any]) -> bool:
    for position, wanted in enumerate(filters):
        if wanted is None:
            continue
        if position >= len(topics):
            return False
        options = wanted if isinstance(wanted, list) else [wanted]
        if topics[position] not in {option.lower() for option in options}:
            return False
    return True


def _rpc_error(request_id: Any, code: int, message: str, data: str | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def _constant(types: list[str], value: Any) -> Callable[[LocalChain], bytes]:
    encoded = encode(types, [value])
    return lambda chain: encoded


_DOMAIN_SEPARATOR = hash_domain(TypedDataDomain(USDC_NAME, USDC_VERSION, CHAIN_ID, USDC_ADDRESS))

_USDC_READS: dict[bytes, tuple[list[str], Callable[..., bytes]]] = {
    _selector("name()"): ([], _constant(["string"], USDC_NAME)),
    _selector("symbol()"): ([], _constant(["string"], USDC_SYMBOL)),
    _selector("version()"): ([], _constant(["string"], USDC_VERSION)),
    _selector("decimals()"): ([], _constant(["uint8"], USDC_DECIMALS)),
    _selector("DOMAIN_SEPARATOR()"): ([], _constant(["bytes32"], _DOMAIN_SEPARATOR)),
    _selector("totalSupply()"): ([], LocalChain._usdc_total_supply),
    _selector("balanceOf(address)"): (["address"], LocalChain._usdc_balance_of),
    _selector("authorizationState(address,bytes32)"): (
        ["address", "bytes32"],
        LocalChain._usdc_authorization_state,
    ),
}

_RPC_METHODS: dict[str, Callable[..., Any]] = {
    "eth_chainId": LocalChain._eth_chain_id,
    "net_version": LocalChain._net_version,
    "web3_clientVersion": LocalChain._client_version,
    "eth_blockNumber": LocalChain._eth_block_number,
    "eth_gasPrice": LocalChain._eth_gas_price,
    "eth_getBalance": LocalChain._eth_get_balance,
    "eth_getTransactionCount": LocalChain._eth_get_transaction_count,
    "eth_getCode": LocalChain._eth_get_code,
    "eth_call": LocalChain._eth_call,
    "eth_getTransactionByHash": LocalChain._eth_get_transaction_by_hash,
    "eth_getTransactionReceipt": LocalChain._eth_get_transaction_receipt,
    "eth_getBlockByNumber": LocalChain._eth_get_block_by_number,
    "eth_getBlockByHash": LocalChain._eth_get_block_by_hash,
    "eth_getLogs": LocalChain._eth_get_logs,
}
