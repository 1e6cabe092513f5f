"""Token metadata (name, symbol, decimals), read tolerantly and cached in memory and in the App table.

Tokens in the wild return strings or bytes32 (MKR, SAI), lack `decimals` (most ERC-721s, some
ERC-20s) or sit behind proxies. Each getter is a plain JSON-RPC eth_call (shared.chain.rpc): a proxy
forwards it like any caller's; a revert or an empty answer means "missing" (None), not an error.
The getters of up to METADATA_BATCH contracts travel in one JSON-RPC batch, one HTTP request: a
backfill that meets hundreds of new tokens waits on a few round trips, not three per token.
Transport failures are retried (only the calls still unanswered) and then raised, so a flaky node
never gets cached as "this token has no decimals".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.chain.abi import DECIMALS_SELECTOR, NAME_SELECTOR, SYMBOL_SELECTOR
from shared.chain.decode import TokenMeta
from shared.chain.rpc import RetryPolicy, RpcClient, RpcError, Verdict
from shared.retry import Backoff, call_with_retry
from shared.store.dynamo import batch_get, batch_write, from_item, to_item
from shared.store.keys import token_meta_key

# how nodes word a call that reverted or hit a bad opcode: the token lacks the getter
_REVERTED = ("revert", "invalid opcode", "execution")
METADATA_WORKERS = 8
# contracts per JSON-RPC batch: 300 eth_calls, within what public providers accept in one request
METADATA_BATCH = 100
_GETTERS = (NAME_SELECTOR, SYMBOL_SELECTOR, DECIMALS_SELECTOR)

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

    @property
    def http_requests(self) -> int:
        """HTTP requests this reader sent to the node, retries included."""
        return self.rpc.http_requests

    def _calls(self, addresses: Sequence[str]) -> dict[tuple[str, str], bytes]:
        """Every getter of `addresses` in one batch; what a try leaves unanswered is asked again."""
        pending = [(address, selector) for address in addresses for selector in _GETTERS]
        answers: dict[tuple[str, str], bytes] = {}
        culprit = addresses[0]

        def attempt() -> None:
            nonlocal pending, culprit
            replies = self.rpc.batch_once([("eth_call", [{"to": a, "data": s}, "latest"]) for a, s in pending])
            unanswered, problem = [], None
            for key, reply in zip(pending, replies, strict=True):
                if not isinstance(reply, RpcError):
                    answers[key] = _raw(reply)
                elif _reverted(reply):
                    answers[key] = b""
                elif reply.verdict is Verdict.FATAL:
                    culprit = key[0]
                    raise reply
                else:
                    unanswered.append(key)
                    culprit, problem = key[0], reply
            pending = unanswered
            if problem is not None:
                raise problem

        try:
            call_with_retry(attempt, retryable=_transient, backoff=self.backoff)
        except RpcError as exc:
            # RpcClient's messages are already scrubbed of the endpoint, whose path may hold the provider's key
            raise RuntimeError(f"chain {self.chain_id}: reading metadata of {culprit} failed: {exc}") from None
        return answers

    def close(self) -> None:
        self.rpc.close()

    def read_chain_many(self, addresses: Sequence[str]) -> dict[str, TokenMeta]:
        raw = self._calls(addresses)
        return {
            address: TokenMeta(
                name=decode_text(raw[address, NAME_SELECTOR]),
                symbol=decode_text(raw[address, SYMBOL_SELECTOR]),
                decimals=decode_decimals(raw[address, DECIMALS_SELECTOR]),
            )
            for address in addresses
        }

    def read_chain(self, address: str) -> TokenMeta:
        return self.read_chain_many([address])[address]

    def get(self, address: str) -> TokenMeta:
        return self.get_many([address])[address.lower()]

    def get_many(self, addresses: Iterable[str]) -> dict[str, TokenMeta]:
        """Metadata by lower-case address: from memory, else the App table, else the chain (then stored)."""
        wanted = sorted({address.lower() for address in addresses})
        found: dict[str, TokenMeta] = {}
        with _MEMORY_LOCK:
            for address in wanted:
                cached = _MEMORY.get((self.app_table, self.chain_id, address))
                if cached is not None:
                    found[address] = cached
        missing = [a for a in wanted if a not in found]
        stored = self._load(missing) if missing else {}
        unread = [a for a in missing if a not in stored]
        chunks = [unread[i : i + METADATA_BATCH] for i in range(0, len(unread), METADATA_BATCH)]
        read: dict[str, TokenMeta] = {}
        if len(chunks) == 1:
            read = self.read_chain_many(chunks[0])
        elif chunks:
            with ThreadPoolExecutor(max_workers=min(METADATA_WORKERS, len(chunks))) as pool:
                for part in pool.map(self.read_chain_many, chunks):
                    read.update(part)
        if read:
            self._save(read)
        found.update(stored)
        found.update(read)
        with _MEMORY_LOCK:
            for address in missing:
                _MEMORY[(self.app_table, self.chain_id, address)] = found[address]
        return {address: found[address] for address in wanted}

    def _load(self, addresses: Sequence[str]) -> dict[str, TokenMeta]:
        keys = [to_item(token_meta_key(self.chain_id, address)) for address in addresses]
        items = [from_item(item) for item in batch_get(self.app_table, keys)]
        return {
            str(values["address"]): TokenMeta(
                name=values.get("name"), symbol=values.get("symbol"), decimals=values.get("decimals")
            )
            for values in items
        }

    def _save(self, metas: dict[str, TokenMeta]) -> None:
        now = int(time.time())
        items = [
            {
                **token_meta_key(self.chain_id, address),
                "chain_id": self.chain_id,
                "address": address,
                "name": meta.name,
                "symbol": meta.symbol,
                "decimals": meta.decimals,
                "read_at": now,
            }
            for address, meta in metas.items()
        ]
        batch_write(self.app_table, puts=[to_item(item) for item in items])


def _raw(result: Any) -> bytes:
    """An eth_call result as bytes; anything but a 0x hex string reads as empty (the getter is missing)."""
    if not isinstance(result, str) or not result.startswith("0x"):
        return b""
    try:
        return bytes.fromhex(result[2:])
    except ValueError:
        return b""
