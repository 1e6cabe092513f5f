"""Token metadata (name, symbol, decimals), read tolerantly and cached in memory and in the App table.

Tokens in the wild return strings or bytes32 (MKR, SAI), lack `decimals` (most ERC-721s, some
ERC-20s) or sit behind proxies. Each getter is a plain JSON-RPC eth_call (shared.chain.rpc): a proxy
forwards it like any caller's; a revert or an empty answer means "missing" (None), not an error.
Transport failures are retried and then raised, so a flaky node never gets cached as "this token has
no decimals".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.chain.abi import DECIMALS_SELECTOR, NAME_SELECTOR, SYMBOL_SELECTOR
from shared.chain.decode import TokenMeta
from shared.chain.rpc import RetryPolicy, RpcClient, RpcError, Verdict
from shared.retry import Backoff, call_with_retry
from shared.store.dynamo import client, from_item, to_item
from shared.store.keys import token_meta_key

# how nodes word a call that reverted or hit a bad opcode: the token lacks the getter
_REVERTED = ("revert", "invalid opcode", "execution")
METADATA_WORKERS = 8

_MEMORY: dict[tuple[str, int, str], TokenMeta] = {}
_MEMORY_LOCK = threading.Lock()


def _abi_string(raw: bytes) -> str | None:
    """A dynamic ABI `string` return value: an offset word, a length word, then the UTF-8 bytes."""
    offset = int.from_bytes(raw[:32], "big")
    if offset + 32 > len(raw):
        return None
    length = int.from_bytes(raw[offset : offset + 32], "big")
    body = raw[offset + 32 : offset + 32 + length]
    if len(body) != length:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decode_text(raw: bytes) -> str | None:
    """An ABI string, or a bytes32 padded with NULs; None when neither reads cleanly."""
    if len(raw) >= 64:
        text = _abi_string(raw)
        if text is not None:
            return text.strip("\x00") or None
    if len(raw) >= 32:
        cut = raw[:32].rstrip(b"\x00")
        if not cut or b"\x00" in cut:
            return None
        try:
            return cut.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def decode_decimals(raw: bytes) -> int | None:
    if len(raw) < 32:
        return None
    value = int.from_bytes(raw[:32], "big")
    return value if value <= 255 else None


def clear_memory_cache() -> None:
    with _MEMORY_LOCK:
        _MEMORY.clear()


def _reverted(exc: RpcError) -> bool:
    message = str(exc).lower()
    return any(word in message for word in _REVERTED)


def _transient(exc: Exception) -> bool:
    return isinstance(exc, RpcError) and exc.verdict is not Verdict.FATAL


class MetadataReader:
    def __init__(self, rpc_url: str, chain_id: int, app_table: str, timeout: float = 10.0, attempts: int = 4) -> None:
        # the one retry layer is here, not in the client: nodes word a revert like a transient
        # error (-32000), and a revert must come back at once as "missing", not after a retry storm
        policy = RetryPolicy(max_attempts=1, timeout=timeout)
        self.rpc = RpcClient(rpc_url, chain_id, policy=policy, workers=METADATA_WORKERS)
        self.chain_id = chain_id
        self.app_table = app_table
        self.backoff = Backoff(attempts=attempts, base_delay=0.1, max_delay=1.6)

    def _call(self, address: str, selector: str) -> bytes:
        def attempt() -> Any:
            try:
                return self.rpc.call_once("eth_call", [{"to": address, "data": selector}, "latest"])
            except RpcError as exc:
                if _reverted(exc):
                    return None
                raise

        try:
            result = call_with_retry(attempt, retryable=_transient, backoff=self.backoff)
        except RpcError as exc:
            # RpcClient's messages are already scrubbed of the endpoint, whose path may hold the provider's key
            raise RuntimeError(f"chain {self.chain_id}: reading metadata of {address} failed: {exc}") from None
        if not isinstance(result, str) or not result.startswith("0x"):
            return b""
        try:
            return bytes.fromhex(result[2:])
        except ValueError:
            return b""

    def close(self) -> None:
        self.rpc.close()

    def read_chain(self, address: str) -> TokenMeta:
        return TokenMeta(
            name=decode_text(self._call(address, NAME_SELECTOR)),
            symbol=decode_text(self._call(address, SYMBOL_SELECTOR)),
            decimals=decode_decimals(self._call(address, DECIMALS_SELECTOR)),
        )

    def get(self, address: str) -> TokenMeta:
        address = address.lower()
        memo_key = (self.app_table, self.chain_id, address)
        with _MEMORY_LOCK:
            cached = _MEMORY.get(memo_key)
        if cached is not None:
            return cached
        meta = self._load(address)
        if meta is None:
            meta = self.read_chain(address)
            self._save(address, meta)
        with _MEMORY_LOCK:
            _MEMORY[memo_key] = meta
        return meta

    def get_many(self, addresses: Iterable[str]) -> dict[str, TokenMeta]:
        wanted = sorted({address.lower() for address in addresses})
        if len(wanted) <= 1:
            return {address: self.get(address) for address in wanted}
        # a range that brings many new tokens (a backfill of hundreds of tracked contracts) reads them side
        # by side: each is three eth_calls and two DynamoDB requests, all waiting on the network
        with ThreadPoolExecutor(max_workers=min(METADATA_WORKERS, len(wanted))) as pool:
            return dict(zip(wanted, pool.map(self.get, wanted), strict=True))

    def _load(self, address: str) -> TokenMeta | None:
        answer = client("dynamodb").get_item(
            TableName=self.app_table, Key=to_item(token_meta_key(self.chain_id, address)), ConsistentRead=True
        )
        if "Item" not in answer:
            return None
        values: dict[str, Any] = from_item(answer["Item"])
        return TokenMeta(name=values.get("name"), symbol=values.get("symbol"), decimals=values.get("decimals"))

    def _save(self, address: str, meta: TokenMeta) -> None:
        item = {
            **token_meta_key(self.chain_id, address),
            "chain_id": self.chain_id,
            "address": address,
            "name": meta.name,
            "symbol": meta.symbol,
            "decimals": meta.decimals,
            "read_at": int(time.time()),
        }
        client("dynamodb").put_item(TableName=self.app_table, Item=to_item(item))
