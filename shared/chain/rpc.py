"""A small JSON-RPC client for the hot path of ingestion: eth_getLogs and batched block headers.

Every read (eth_getLogs, batched headers, the token getters of shared.chain.metadata) goes over one
requests.Session: web3.py's batch path does not retry and its middleware costs more than the decoding.

Every failure is classified once (`classify`):
  RANGE  the node refuses the block range (result cap, response size, range width, a timeout on
         eth_getLogs); the caller shrinks the range, guided by any hint in the message
  RETRY  transient: HTTP 429/5xx, timeouts, connection errors, -32603, -32000..-32099, a null result
  FATAL  anything else (a malformed request will not get better by asking again)
The waits between attempts are shared.retry's; after `max_attempts` a RpcFailed names the chain, the
method and the last error: ingestion never skips a range silently.
"""

from __future__ import annotations

import gc
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

import orjson
import requests
import urllib3

from shared.egress import EgressRefused, guarded_session, scrub
from shared.retry import Backoff, call_with_retry

_HEADERS = {"Content-Type": "application/json"}


class Verdict(Enum):
    RANGE = "range"
    RETRY = "retry"
    FATAL = "fatal"


class RpcError(RuntimeError):
    """A JSON-RPC error answer (or an HTTP failure) with its classification."""

    def __init__(
        self, message: str, code: int | None = None, verdict: Verdict = Verdict.FATAL, timeout: bool = False
    ) -> None:
        super().__init__(message)
        self.code = code
        self.verdict = verdict
        self.timeout = timeout
        self.hint = parse_range_hint(message) if verdict is Verdict.RANGE else None


class RpcFailed(RuntimeError):
    """Retries are exhausted; the message says which chain, which method and why."""


# Providers word their result caps differently; these fragments cover geth, erigon, nethermind,
# Alchemy, Infura, QuickNode, Ankr, BlastAPI, Chainstack and anvil's own limits.
_RANGE_PATTERNS = re.compile(
    "|".join(
        [
            r"more than \d+ results",
            r"log response size exceeded",
            r"response size (?:should not|exceed)",
            r"block range is too (?:wide|large)",
            r"range too (?:large|wide)",
            r"block range too",
            r"exceed(?:s|ed)? (?:the )?max(?:imum)? block range",
            r"limit exceeded",
            r"too many (?:blocks|results|logs)",
            r"query exceeds max",
            r"max results",
            r"query timeout",
            r"try with this block range",
            r"this block range should work",
            r"range should work",
            r"requested too many",
            r"exceeds the range",
        ]
    ),
    re.IGNORECASE,
)
_HINT = re.compile(r"\[\s*(0x[0-9a-fA-F]+|\d+)\s*,\s*(0x[0-9a-fA-F]+|\d+)\s*\]")


def parse_range_hint(message: str) -> tuple[int, int] | None:
    """A provider's suggested range, e.g. 'this block range should work: [0x1, 0x2c]'."""
    match = _HINT.search(message)
    if match is None:
        return None
    first, last = (int(x, 16) if x.lower().startswith("0x") else int(x) for x in match.groups())
    return (first, last) if first <= last else None


def classify_error(code: int | None, message: str) -> Verdict:
    if _RANGE_PATTERNS.search(message):
        return Verdict.RANGE
    if code is not None and (code == -32603 or -32099 <= code <= -32000 or code == 429):
        return Verdict.RETRY
    lowered = message.lower()
    if any(word in lowered for word in ("rate limit", "too many requests", "timeout", "timed out", "try again")):
        return Verdict.RETRY
    if "header not found" in lowered or "unknown block" in lowered:
        return Verdict.RETRY  # a lagging node behind a load balancer
    return Verdict.FATAL


def classify_http(status: int) -> Verdict:
    if status == 429 or status >= 500 or status == 408:
        return Verdict.RETRY
    return Verdict.FATAL


_GC_LOCK = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False
_LARGE_BODY = 256 * 1024


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while a large answer is parsed and decoded.

    JSON and decoded events are acyclic (reference counting frees them), but each parsed log is
    two containers and each event two, and the collector rescans all of them as they accumulate:
    it cost about as much as the decoding itself. Nested and concurrent pauses are counted; the
    collector runs again when the last one ends (unless it was off to begin with), without a
    catch-up pass over everything allocated meanwhile.
    """
    global _gc_pauses, _gc_was_enabled
    with _GC_LOCK:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                if gc.get_freeze_count() == 0:
                    # move what accumulated straight to the oldest generation, unscanned (two list
                    # splices); a full collection still finds any cycle among it later
                    gc.freeze()
                    gc.unfreeze()
                gc.enable()


class Header(NamedTuple):
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    logs_bloom: str


@dataclass
class RetryPolicy:
    """How often one read is tried (shared.retry's Backoff) and how long each try may take."""

    max_attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 8.0
    timeout: float = 15.0

    @property
    def backoff(self) -> Backoff:
        return Backoff(attempts=self.max_attempts, base_delay=self.base_delay, max_delay=self.max_delay)

    def delay(self, attempt: int) -> float:
        return self.backoff.delay(attempt)


class RpcClient:
    """Raw JSON-RPC over HTTP with classification, retries and batching."""

    def __init__(
        self,
        url: str,
        chain_id: int,
        policy: RetryPolicy | None = None,
        header_batch: int = 100,
        workers: int = 4,
        on_retry: Callable[[str, str], None] | None = None,
    ) -> None:
        self.url = url
        self.chain_id = chain_id
        self.policy = policy or RetryPolicy()
        self.header_batch = header_batch
        self.workers = workers
        self.on_retry = on_retry
        self.retries = 0
        self.http_requests = 0
        self._lock = threading.Lock()
        self._ids = iter(range(1, 1 << 62))
        self.session = guarded_session(pool_connections=workers, pool_maxsize=workers * 2)

    # ---- plumbing ------------------------------------------------------------------------------

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def note_retry(self, method: str, reason: str) -> None:
        with self._lock:
            self.retries += 1
        if self.on_retry is not None:
            self.on_retry(method, reason)

    def _post(self, payload: Any) -> Any:
        """One HTTP round trip; raises RpcError classified RETRY/FATAL for transport problems.

        The body is read in one piece (requests' default iterates 10 kB chunks in Python, which
        costs more than the parse of a large eth_getLogs answer) and parsed by orjson.
        """
        with self._lock:
            self.http_requests += 1
        try:
            response = self.session.post(
                self.url,
                data=orjson.dumps(payload),
                headers=_HEADERS,
                timeout=(min(5.0, self.policy.timeout), self.policy.timeout),
                stream=True,
            )
        # requests' and urllib3's messages quote the URL, whose path holds the provider's key: only the
        # exception's type is kept, and the original is not chained (a traceback would print it)
        except EgressRefused as exc:
            raise RpcError(f"the RPC endpoint is not allowed: {exc}", None, Verdict.FATAL) from None
        except requests.Timeout as exc:
            raise self._timeout(exc) from None
        except requests.ConnectionError as exc:
            raise RpcError(f"connection error ({type(exc).__name__})", None, Verdict.RETRY) from None
        try:
            body = response.raw.read(decode_content=True)
        except (urllib3.exceptions.TimeoutError, requests.Timeout) as exc:
            response.close()
            raise self._timeout(exc) from None
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            # a body cut off mid-way (proxy reset, size limit) is worth another try
            response.close()
            raise RpcError(f"connection error while reading ({type(exc).__name__})", None, Verdict.RETRY) from None
        response.raw.release_conn()  # fully read: the connection goes back to the pool for reuse
        if response.status_code != 200:
            text = self.scrub(body[:200].decode(errors="replace"))
            raise RpcError(
                f"HTTP {response.status_code}: {text}", response.status_code, classify_http(response.status_code)
            )
        try:
            if len(body) < _LARGE_BODY:
                return orjson.loads(body)
            with gc_paused():
                return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        try:
            return json.loads(body)  # valid JSON orjson declines: integers beyond 64 bits, NaN
        except ValueError as exc:
            # a body cut off mid-way (proxy reset, size limit) is worth another try
            raise RpcError(f"unparseable response: {body[:120]!r}", None, Verdict.RETRY) from exc

    def _timeout(self, exc: BaseException) -> RpcError:
        return RpcError(
            f"timeout after {self.policy.timeout:g} s ({type(exc).__name__})", None, Verdict.RETRY, timeout=True
        )

    def _fail(self, method: str, attempts: int, error: BaseException) -> RpcFailed:
        return RpcFailed(f"chain {self.chain_id}: {method} failed after {attempts} attempts: {self.scrub(str(error))}")

    def scrub(self, text: str) -> str:
        """`text` without the endpoint's path or query (where providers put the API key)."""
        return scrub(text, [self.url])

    def call_once(self, method: str, params: Sequence[Any], allow_null: bool = False) -> Any:
        answer = self._post({"jsonrpc": "2.0", "id": self._next_id(), "method": method, "params": list(params)})
        if not isinstance(answer, dict):
            raise RpcError(f"unexpected answer shape: {str(answer)[:120]}", None, Verdict.RETRY)
        error = answer.get("error")
        if error is not None:
            raise _answer_error(error)
        if "result" not in answer or (answer["result"] is None and not allow_null):
            raise RpcError("null result (lagging node)", None, Verdict.RETRY)
        return answer["result"]

    def batch_once(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """One JSON-RPC batch in one HTTP request, without retries: each call's result, or the RpcError its
        entry carried (a RETRY one for an entry the answer left out or answered null, as a lagging node
        does). The caller decides what to ask again."""
        ids = [self._next_id() for _ in calls]
        payload = [
            {"jsonrpc": "2.0", "id": rid, "method": method, "params": list(params)}
            for rid, (method, params) in zip(ids, calls, strict=True)
        ]
        answer = self._post(payload) if calls else []
        if isinstance(answer, dict):  # some servers answer a whole batch with one error object
            raise _answer_error(answer.get("error", answer))
        entries = {e.get("id"): e for e in answer if isinstance(e, dict)} if isinstance(answer, list) else {}
        results: list[Any] = []
        for rid in ids:
            entry = entries.get(rid, {})
            if entry.get("error") is not None:
                results.append(_answer_error(entry["error"]))
            elif entry.get("result") is None:
                results.append(RpcError(f"no result for id {rid} (lagging node)", None, Verdict.RETRY))
            else:
                results.append(entry["result"])
        return results

    def call(self, method: str, params: Sequence[Any], allow_null: bool = False, range_errors: bool = False) -> Any:
        """One call with retries. With range_errors=True, RANGE verdicts are raised to the caller at once."""
        tries = 0

        def attempt() -> Any:
            nonlocal tries
            tries += 1
            try:
                return self.call_once(method, params, allow_null)
            except RpcError as exc:
                if range_errors and exc.timeout:
                    # a slow eth_getLogs is a range the node cannot serve in time: shrink, do not repeat
                    raise RpcError(str(exc), None, Verdict.RANGE) from exc
                raise

        def retryable(exc: Exception) -> bool:
            if not isinstance(exc, RpcError) or exc.verdict is Verdict.FATAL:
                return False
            return not (range_errors and exc.verdict is Verdict.RANGE)

        try:
            return call_with_retry(
                attempt,
                retryable=retryable,
                backoff=self.policy.backoff,
                on_retry=lambda _, exc: self.note_retry(method, str(exc)),
            )
        except RpcError as exc:
            if range_errors and exc.verdict is Verdict.RANGE:
                raise
            raise self._fail(method, tries, exc) from exc

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]], allow_null: bool = False) -> list[Any]:
        """A JSON-RPC batch; missing, null or retryable answers are asked again, individually by id.

        Providers may drop entries from a batch answer (size limits, rate limits per entry), so
        the answer is checked for completeness rather than trusted.
        """
        if not calls:
            return []
        results: dict[int, Any] = {}
        pending = {self._next_id(): (i, method, list(params)) for i, (method, params) in enumerate(calls)}
        last: RpcError | None = None
        method_name = calls[0][0]
        tries = 0

        def attempt() -> list[Any]:
            nonlocal last, tries
            tries += 1
            payload = [{"jsonrpc": "2.0", "id": rid, "method": m, "params": p} for rid, (_, m, p) in pending.items()]
            try:
                answer = self._post(payload)
            except RpcError as exc:
                if exc.verdict is Verdict.FATAL:
                    raise self._fail(f"batch {method_name}", tries, exc) from exc
                last = exc
            else:
                if isinstance(answer, dict):  # some servers answer a whole batch with one error object
                    answer = [answer]
                for entry in answer if isinstance(answer, list) else []:
                    rid = entry.get("id") if isinstance(entry, dict) else None
                    if rid not in pending:
                        continue
                    error = entry.get("error")
                    if error is not None:
                        message, code = _error_parts(error)
                        verdict = classify_error(code, message)
                        if verdict is Verdict.FATAL:
                            fatal = RpcError(message, code, verdict)
                            raise self._fail(f"batch {pending[rid][1]}", tries, fatal) from fatal
                        last = RpcError(message, code, verdict)
                        continue
                    if entry.get("result") is None and not allow_null:
                        last = RpcError(f"null result for id {rid} (lagging node)", None, Verdict.RETRY)
                        continue
                    results[pending.pop(rid)[0]] = entry.get("result")
                if pending and last is None:
                    last = RpcError(
                        f"batch answer incomplete: {len(pending)} of {len(calls)} missing", None, Verdict.RETRY
                    )
            if pending:
                # the latest problem seen, asked again for what is still missing
                raise RpcError(str(last), None, Verdict.RETRY)
            return [results[i] for i in range(len(calls))]

        try:
            return call_with_retry(
                attempt,
                retryable=lambda exc: isinstance(exc, RpcError),
                backoff=self.policy.backoff,
                on_retry=lambda _, exc: self.note_retry(f"batch {method_name}", str(exc)),
            )
        except RpcError as exc:
            raise self._fail(f"batch {method_name}", tries, exc) from None

    # ---- chain reads ---------------------------------------------------------------------------

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber", []), 16)

    def header(self, block: int | str) -> Header:
        tag = hex(block) if isinstance(block, int) else block
        return _header(self.call("eth_getBlockByNumber", [tag, False]))

    def headers(self, numbers: Iterable[int]) -> dict[int, Header]:
        """Headers by number, in batches fetched in parallel (each batch retried on its own)."""
        wanted = list(numbers)
        chunks = [wanted[i : i + self.header_batch] for i in range(0, len(wanted), self.header_batch)]

        def fetch(chunk: list[int]) -> list[Any]:
            return self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in chunk])

        if len(chunks) <= 1:
            answers = [fetch(c) for c in chunks]
        else:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(chunks))) as pool:
                answers = list(pool.map(fetch, chunks))
        found: dict[int, Header] = {}
        for chunk, blocks in zip(chunks, answers, strict=True):
            for number, block in zip(chunk, blocks, strict=True):
                header = _header(block)
                if header.number != number:
                    raise RpcFailed(f"chain {self.chain_id}: asked for block {number}, got {header.number}")
                found[number] = header
        return found

    def get_logs(self, from_block: int, to_block: int, addresses: Sequence[str], topics: Sequence[Any]) -> list[Any]:
        params = {
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "address": list(addresses),
            "topics": list(topics),
        }
        result = self.call("eth_getLogs", [params], range_errors=True)
        if not isinstance(result, list):
            raise self._fail("eth_getLogs", 1, RuntimeError(f"result is not a list: {str(result)[:80]}"))
        return result

    def close(self) -> None:
        self.session.close()


def _answer_error(error: Any) -> RpcError:
    """A JSON-RPC error member as a classified RpcError, its `data` (a revert's reason) in the message."""
    message, code = _error_parts(error)
    data = error.get("data") if isinstance(error, dict) else None
    if isinstance(data, str | dict):
        message = f"{message} ({data})"
    return RpcError(message, code, classify_error(code, message))


def _error_parts(error: Any) -> tuple[str, int | None]:
    """The message and code of a JSON-RPC error member (some nodes send a bare string)."""
    if isinstance(error, dict):
        return str(error.get("message", error)), error.get("code")
    return str(error), None


def _header(block: Any) -> Header:
    return Header(
        number=int(block["number"], 16),
        hash=block["hash"],
        parent_hash=block["parentHash"],
        timestamp=int(block["timestamp"], 16),
        logs_bloom=block.get("logsBloom") or "0x",
    )
