"""The local chain as web3.py sees it: USDC reads, receipts and their Transfer logs."""

import base64
import json

from eth_account import Account
from eth_utils import keccak
from web3 import Web3
from web3.logs import DISCARD

from .sandbox_signing import PAY_TO, USDC, client, holding, payment_header, usdc

TRANSFER = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
ZERO = "0x" + "00" * 20


def test_web3_reads_chain_and_token(sandbox):
    w3 = Web3(Web3.HTTPProvider(sandbox.rpc_url))
    wallet = Account.create()
    token = usdc(sandbox)
    height = w3.eth.block_number

    sandbox.faucet(wallet.address, "12.345678")

    assert w3.eth.chain_id == 8453
    assert w3.eth.block_number == height + 1
    assert token.functions.decimals().call() == 6
    assert token.functions.balanceOf(wallet.address).call() == 12_345_678
    assert len(w3.eth.get_code(Web3.to_checksum_address(USDC))) > 0
    assert w3.eth.get_code(wallet.address) == b""


def test_the_faucet_mints_with_a_transfer_from_zero(sandbox):
    w3 = Web3(Web3.HTTPProvider(sandbox.rpc_url))
    wallet = Account.create()

    receipt = w3.eth.get_transaction_receipt(sandbox.faucet(wallet.address, "3"))

    # Mint is logged too; only the Transfer matters here.
    (transfer,) = usdc(sandbox).events.Transfer().process_receipt(receipt, errors=DISCARD)
    assert transfer.args["from"] == ZERO
    assert transfer.args["to"] == wallet.address
    assert transfer.args["value"] == 3_000_000


def test_a_top_up_is_an_on_chain_transfer_to_venice(sandbox):
    w3 = Web3(Web3.HTTPProvider(sandbox.rpc_url))
    wallet = holding(sandbox, "25")
    header = payment_header(wallet, sandbox, "25")
    nonce = json.loads(base64.b64decode(header))["payload"]["authorization"]["nonce"]
    token = usdc(sandbox)
    assert not token.functions.authorizationState(wallet.address, nonce).call()

    paid = client.post(sandbox.api_url + "/x402/top-up", headers={"PAYMENT-SIGNATURE": header})
    tx_hash = json.loads(base64.b64decode(paid.headers["PAYMENT-RESPONSE"]))["transaction"]

    receipt = w3.eth.get_transaction_receipt(tx_hash)
    assert receipt.status == 1
    assert receipt.to.lower() == USDC.lower()
    transfers = [log for log in receipt.logs if log.topics[0].to_0x_hex() == TRANSFER]
    assert len(transfers) == 1  # USDC also logs AuthorizationUsed: pick by topic
    (log,) = transfers
    assert log.address.lower() == USDC.lower()
    assert Web3.to_checksum_address(log.topics[1][-20:]) == wallet.address
    assert log.topics[2][-20:].hex() == PAY_TO[2:]
    assert int.from_bytes(log.data, "big") == 25_000_000
    assert token.functions.authorizationState(wallet.address, nonce).call()

    transaction = w3.eth.get_transaction(tx_hash)
    assert transaction.to.lower() == USDC.lower()
    assert (
        transaction.input[:4]
        == keccak(
            text="transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,"
            "uint8,bytes32,bytes32)"
        )[:4]
    )
    block = w3.eth.get_block(receipt.blockNumber)
    assert tx_hash in [h.to_0x_hex() for h in block.transactions]
    assert w3.eth.get_block("latest").number >= receipt.blockNumber

    found = w3.eth.get_logs(
        {
            "fromBlock": receipt.blockNumber,
            "toBlock": receipt.blockNumber,
            "address": Web3.to_checksum_address(USDC),
            "topics": [TRANSFER, "0x" + "00" * 12 + wallet.address[2:].lower()],
        }
    )
    assert [entry.transactionHash.to_0x_hex() for entry in found] == [tx_hash]


def test_json_rpc_batches_and_errors(sandbox):
    calls = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_sendRawTransaction", "params": ["0x00"]},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "eth_getTransactionReceipt",
            "params": ["0x" + "ab" * 32],
        },
    ]

    answers = client.post(sandbox.rpc_url, json=calls).json()

    assert answers[0]["result"] == "0x2105"
    assert answers[1]["error"]["code"] == -32601
    assert answers[2]["result"] is None
    assert client.post(sandbox.rpc_url, content=b"{").json()["error"]["code"] == -32700
