"""Fast transaction sending for anvil: JSON-RPC batches with explicit nonces, mined one block at a time.

web3's `contract.functions.x().transact()` manages ~65 tx/s and raw `eth_sendTransaction` ~170 tx/s;
a JSON-RPC batch of 1,000 transactions with automine off followed by `evm_mine` takes ~0.3 s
(docs/architecture.md, "The local cloud"). Everything here is built on that last path.

Reusable pieces:

- `Rpc(url)`: `call(method, params)` and `batch([(method, params), ...])`, raising `RpcError`.
- `encode_call("transfer(address,uint256)", to, amount) -> "0x..."`: calldata without web3 objects.
- `Tx(sender, to, data, gas, expected_logs=None)`: one transaction to send.
- `BatchSender(rpc)`: `start()` (impersonate every address, automine off), `mine_block(txs, timestamp)`
  (send as one batch, mine, verify every receipt succeeded) and `stop()` (automine back on).
- `mine_transfers(rpc_url, token_address, transfers, timestamp=None) -> list[MinedBlock]`: the
  one-call helper for tests that need many ERC-20 transfers on chain quickly.

Senders are impersonated (`anvil_autoImpersonateAccount`), so any address can send, and fees are zero
(`gasPrice` 0 with the next block's base fee set to 0), so no account needs funding and ETH balances
stay untouched.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import requests
from eth_abi import encode as abi_encode
from eth_utils import keccak

BLOCK_GAS_BUDGET = 25_000_000  # stay under anvil's 30M limit with room for estimation error
_STATIC_TYPES = ("address", "bool", "uint", "int", "bytes32")


class RpcError(RuntimeError):
    pass


class TxFailed(RuntimeError):
    """A transaction reverted, was not mined, or emitted an unexpected number of logs."""


class Rpc:
    """A minimal JSON-RPC client over one HTTP session (keep-alive matters at thousands of calls)."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.url = url
        self.timeout = timeout
        self._session = requests.Session()
        self._ids = itertools.count(1)

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}
        reply = self._session.post(self.url, json=body, timeout=self.timeout)
        reply.raise_for_status()
        data = reply.json()
        if "error" in data:
            raise RpcError(f"{method} failed on {self.url}: {data['error']}")
        return data.get("result")

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Send calls as one JSON-RPC batch; results come back in call order."""
        if not calls:
            return []
        first = next(self._ids)
        body = [
            {"jsonrpc": "2.0", "id": first + i, "method": method, "params": params}
            for i, (method, params) in enumerate(calls)
        ]
        self._ids = itertools.count(first + len(calls))
        reply = self._session.post(self.url, json=body, timeout=self.timeout)
        reply.raise_for_status()
        answers = {item["id"]: item for item in reply.json()}
        results: list[Any] = []
        for i, (method, _) in enumerate(calls):
            item = answers.get(first + i)
            if item is None:
                raise RpcError(f"{method} got no answer in a batch on {self.url}")
            if "error" in item:
                raise RpcError(f"{method} failed on {self.url}: {item['error']}")
            results.append(item.get("result"))
        return results

    def close(self) -> None:
        self._session.close()


@lru_cache(maxsize=256)
def _parse_signature(signature: str) -> tuple[str, tuple[str, ...], bool]:
    name_end = signature.index("(")
    inner = signature[name_end + 1 : -1]
    types = tuple(_split_types(inner)) if inner else ()
    selector = "0x" + keccak(text=signature)[:4].hex()
    static = all(t.startswith(_STATIC_TYPES) and "[" not in t for t in types)
    return selector, types, static


def _split_types(inner: str) -> list[str]:
    # Tuple types contain commas, so split only at depth 0.
    parts: list[str] = []
    depth = 0
    current = ""
    for char in inner:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    parts.append(current)
    return parts


def _word(abi_type: str, value: Any) -> str:
    if abi_type == "address":
        return str(value).lower().removeprefix("0x").rjust(64, "0")
    if abi_type == "bool":
        return "1".rjust(64, "0") if value else "0" * 64
    if abi_type == "bytes32":
        raw = value if isinstance(value, bytes) else bytes.fromhex(str(value).removeprefix("0x"))
        return raw.ljust(32, b"\0").hex()
    if abi_type.startswith("int") and value < 0:
        return (value + (1 << 256)).to_bytes(32, "big").hex()
    return format(int(value), "064x")


def encode_call(signature: str, *args: Any) -> str:
    """Calldata for `signature` (canonical types, e.g. "transfer(address,uint256)") applied to args.

    Static argument lists are padded by hand: it is ~20x faster than eth_abi and the simulator encodes
    tens of thousands of calls.
    """
    selector, types, static = _parse_signature(signature)
    if len(args) != len(types):
        raise ValueError(f"{signature} takes {len(types)} arguments, got {len(args)}")
    if static:
        return selector + "".join(_word(t, v) for t, v in zip(types, args, strict=True))
    return selector + abi_encode(list(types), list(args)).hex()


@dataclass(frozen=True)
class Tx:
    """One transaction. `gas` is a limit (no estimation round trip); `expected_logs` is checked when set."""

    sender: str
    to: str
    data: str
    gas: int
    expected_logs: int | None = None


@dataclass
class MinedBlock:
    number: int
    hash: str
    timestamp: int
    tx_hashes: list[str]
    receipts: list[dict[str, Any]] = field(repr=False)

    @property
    def logs(self) -> list[dict[str, Any]]:
        return [log for receipt in self.receipts for log in receipt["logs"]]


class BatchSender:
    """Sends transactions as JSON-RPC batches with nonces it tracks, and mines them block by block.

    Transactions of one sender execute in nonce order; anvil does *not* keep submission order across
    senders within a block, so callers must keep each block's outcome independent of that order.
    """

    def __init__(self, rpc: Rpc, max_extra_blocks: int = 8) -> None:
        self.rpc = rpc
        self.max_extra_blocks = max_extra_blocks
        self.nonces: dict[str, int] = {}
        self.transactions = 0
        self._last_timestamp = 0

    def start(self) -> None:
        self.rpc.call("anvil_autoImpersonateAccount", [True])
        self.rpc.call("evm_setAutomine", [False])
        latest = self.rpc.call("eth_getBlockByNumber", ["latest", False])
        self._last_timestamp = int(latest["timestamp"], 16)

    def stop(self) -> None:
        self.rpc.call("evm_setAutomine", [True])
        self.rpc.call("anvil_autoImpersonateAccount", [False])

    def __enter__(self) -> BatchSender:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _load_nonces(self, senders: set[str]) -> None:
        unknown = sorted(s for s in senders if s not in self.nonces)
        counts = self.rpc.batch([("eth_getTransactionCount", [s, "pending"]) for s in unknown])
        for sender, count in zip(unknown, counts, strict=True):
            self.nonces[sender] = int(count, 16)

    def mine_block(self, txs: Sequence[Tx], timestamp: int | None = None) -> list[MinedBlock]:
        """Send `txs` and mine them at `timestamp` (default: one second after the previous block).

        Usually one block; more if anvil leaves some pending (the gas limit), each one second later.
        Raises TxFailed if any transaction reverted, stayed unmined or logged an unexpected count.
        """
        if not txs:
            return []
        senders = {tx.sender.lower() for tx in txs}
        self._load_nonces(senders)
        calls: list[tuple[str, list[Any]]] = []
        for tx in txs:
            sender = tx.sender.lower()
            nonce = self.nonces[sender]
            self.nonces[sender] = nonce + 1
            calls.append(
                (
                    "eth_sendTransaction",
                    [
                        {
                            "from": sender,
                            "to": tx.to,
                            "data": tx.data,
                            "gas": hex(tx.gas),
                            "gasPrice": "0x0",
                            "nonce": hex(nonce),
                            "value": "0x0",
                        }
                    ],
                )
            )
        # A zero base fee lets zero-price transactions in, so senders never need ETH.
        self.rpc.call("anvil_setNextBlockBaseFeePerGas", ["0x0"])
        hashes: list[str] = self.rpc.batch(calls)
        expected = {h: tx for h, tx in zip(hashes, txs, strict=True)}
        pending = set(hashes)
        when = max(timestamp if timestamp is not None else self._last_timestamp + 1, self._last_timestamp + 1)
        blocks: list[MinedBlock] = []
        for _ in range(1 + self.max_extra_blocks):
            block = self._mine(when)
            blocks.append(block)
            for receipt in block.receipts:
                tx_hash = receipt["transactionHash"]
                planned = expected.get(tx_hash)
                if planned is None:
                    continue  # someone else's transaction; not ours to judge
                pending.discard(tx_hash)
                if receipt["status"] != "0x1":
                    raise TxFailed(f"transaction {tx_hash} reverted: {planned}")
                if planned.expected_logs is not None and len(receipt["logs"]) != planned.expected_logs:
                    raise TxFailed(
                        f"transaction {tx_hash} emitted {len(receipt['logs'])} logs, expected "
                        f"{planned.expected_logs}: {planned}"
                    )
            if not pending:
                self.transactions += len(hashes)
                return blocks
            when += 1
            self.rpc.call("anvil_setNextBlockBaseFeePerGas", ["0x0"])
        raise TxFailed(f"{len(pending)} transactions still pending after {len(blocks)} blocks")

    def _mine(self, timestamp: int) -> MinedBlock:
        self.rpc.call("anvil_setNextBlockTimestamp", [timestamp])
        self.rpc.call("evm_mine", [])
        self._last_timestamp = timestamp
        receipts: list[dict[str, Any]] = self.rpc.call("eth_getBlockReceipts", ["latest"]) or []
        if receipts:
            number = int(receipts[0]["blockNumber"], 16)
            block_hash = receipts[0]["blockHash"]
        else:
            header = self.rpc.call("eth_getBlockByNumber", ["latest", False])
            number, block_hash = int(header["number"], 16), header["hash"]
        return MinedBlock(number, block_hash, timestamp, [r["transactionHash"] for r in receipts], receipts)


def mine_transfers(
    rpc_url: str,
    token_address: str,
    transfers: Sequence[tuple[str, str, int]],
    *,
    timestamp: int | None = None,
    gas_per_transfer: int = 60_000,
) -> list[MinedBlock]:
    """Mine ERC-20 `transfer(to, amount)` calls fast: `transfers` is [(sender, to, amount), ...].

    Every sender is impersonated and pays zero gas, so no keys or ETH are needed, but each sender
    must hold the tokens. Transfers are packed ~400 to a block (under the 30M gas limit), the first
    block at `timestamp` when given, the next ones a second apart. Each transaction must succeed
    and emit one log, or TxFailed is raised. Automine is switched back on before returning.
    """
    rpc = Rpc(rpc_url)
    sender = BatchSender(rpc)
    per_block = max(1, BLOCK_GAS_BUDGET // gas_per_transfer)
    blocks: list[MinedBlock] = []
    sender.start()
    try:
        for start in range(0, len(transfers), per_block):
            chunk = [
                Tx(frm, token_address, encode_call("transfer(address,uint256)", to, amount), gas_per_transfer, 1)
                for frm, to, amount in transfers[start : start + per_block]
            ]
            blocks += sender.mine_block(chunk, timestamp if start == 0 else None)
    finally:
        sender.stop()
        rpc.close()
    return blocks
