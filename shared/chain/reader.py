"""Reading one chain: a confirmed block range fetched whole, checked, then decoded.

"Ingestion" in docs/architecture.md.

The scheduled ingest (shared.ingest) and the backfill worker (shared.backfill) both read through `ChainReader`;
neither knows the other.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.chain import abi
from shared.chain.bloom import BloomFilter
from shared.chain.decode import Decoded, Event, TokenMeta, decode_logs
from shared.chain.endpoints import resolve_rpc_url
from shared.chain.metadata import MetadataReader
from shared.chain.ranges import AdaptiveRange, get_logs_adaptive, last_block_within
from shared.chain.rpc import Header, RetryPolicy, RpcClient, RpcFailed, gc_paused
from shared.events import StakeEvent, Standard
from shared.retry import call_with_retry
from shared.settings import ChainConfig, Settings

logger = logging.getLogger("kith.ingest")

CRASH_POINTS = ("after_fetch", "mid_write", "before_cursor")


def with_underlying(events: list[Event], underlying: Mapping[str, str]) -> list[Event]:
    """Stake events stamped with the token their contract holds, as the tracked contract declares it."""
    if not underlying:
        return events
    return [
        e.model_copy(update={"underlying": underlying[e.contract]})
        if isinstance(e, StakeEvent) and e.contract in underlying
        else e
        for e in events
    ]


class _Inconsistent(RuntimeError):
    """Logs and headers of one fetch disagree (a reorg under way): the fetch is asked again."""


class InjectedCrash(RuntimeError):
    """Raised at a named point when a test asks for it, to prove recovery from a dead run."""


@dataclass
class IngestOptions:
    safety_margin_s: float = 8.0
    rpc: RetryPolicy = field(default_factory=RetryPolicy)
    header_batch: int = 100
    rpc_workers: int = 4
    write_workers: int = 4
    stop_at_block: int | None = None  # cap the target (tests and backfill-style runs)
    max_ranges: int | None = None  # stop after this many ranges (tests that interleave runs)
    # logs one range may carry: a range is written and checkpointed whole, so it must fit in the run's time;
    # past the first range the run's own write rate lowers it further (ChainIngest._log_budget)
    max_logs_per_range: int = 5_000
    crash_points: frozenset[str] = frozenset()

    def crash(self, point: str) -> None:
        if point in self.crash_points:
            raise InjectedCrash(point)


@dataclass
class FetchedRange:
    from_block: int
    to_block: int
    logs: list[Any]
    headers: dict[int, Header]


def cut_to_budget(fetched: FetchedRange, budget: int, ranger: AdaptiveRange) -> FetchedRange:
    """The fetched range cut at the last block whose logs fit `budget` (all of it when they do); the next
    range then starts from the cut range's size."""
    if len(fetched.logs) <= budget:
        return fetched
    blocks = [_log_block(log, fetched.from_block) for log in fetched.logs]
    last = last_block_within(fetched.from_block, fetched.to_block, blocks, budget)
    if last == fetched.to_block:
        return fetched
    ranger.size = max(1, last - fetched.from_block + 1)
    return FetchedRange(
        fetched.from_block,
        last,
        [log for log, block in zip(fetched.logs, blocks, strict=True) if block <= last],
        {n: h for n, h in fetched.headers.items() if n <= last},
    )


def _log_block(log: Mapping[str, Any], default: int) -> int:
    # a log whose block cannot be read stays with the range's first block, where decoding counts it malformed
    try:
        return int(log["blockNumber"], 16)
    except (KeyError, TypeError, ValueError):
        return default


def _belongs(log: Mapping[str, Any], headers: Mapping[int, Header]) -> bool:
    """Is the log's block one of the fetched headers, with the same hash?"""
    try:
        header = headers.get(int(log["blockNumber"], 16))
    except (KeyError, TypeError, ValueError):
        return False
    return header is not None and header.hash == str(log.get("blockHash", "")).lower()


class ChainReader:
    """Fetch and decode for one chain: the code the scheduled ingest and the backfill share."""

    def __init__(self, chain: ChainConfig, settings: Settings, options: IngestOptions | None = None) -> None:
        self.chain = chain
        self.options = options or IngestOptions()
        url = resolve_rpc_url(chain)
        self.rpc = RpcClient(
            url,
            chain.chain_id,
            policy=self.options.rpc,
            header_batch=self.options.header_batch,
            workers=self.options.rpc_workers,
        )
        self.metadata = MetadataReader(url, chain.chain_id, settings.app_table, timeout=self.options.rpc.timeout)
        if chain.every_token:
            # no address filter: eth_getLogs without one reads every contract, narrowed by the token topics
            self.addresses: list[str] = []
            topic0s = sorted({t for s in abi.TOKEN_STANDARDS for t in abi.TOPICS_BY_STANDARD[s]})
            self.bloom = BloomFilter(None, topic0s)
        else:
            self.addresses = sorted({c.address for c in chain.contracts})
            topic0s = sorted({t for c in chain.contracts for t in abi.TOPICS_BY_STANDARD[c.standard]})
            self.bloom = BloomFilter(self.addresses, topic0s)
        self.topics: list[Any] = [topic0s]
        self.token_addresses = frozenset(c.address for c in chain.contracts if c.standard in abi.TOKEN_STANDARDS)
        self.underlying = {c.address: c.underlying for c in chain.contracts if c.underlying}
        self.fee_recipients = {
            c.address: frozenset(c.fee_recipients) for c in chain.contracts if c.standard == Standard.SEAPORT
        }

    def confirmed_target(self) -> tuple[int, int]:
        """(head, the highest block safe to ingest): head - confirmations, or the `finalized` block."""
        head = self.rpc.block_number()
        if self.chain.use_finalized_tag:
            target = self.rpc.header("finalized").number
        else:
            target = head - self.chain.confirmations
        if self.options.stop_at_block is not None:
            target = min(target, self.options.stop_at_block)
        return head, target

    def fetch(self, from_block: int, last_allowed: int, ranger: AdaptiveRange) -> FetchedRange:
        """Logs and headers of [from_block, to] (to <= last_allowed), consistent with one chain."""

        def attempt() -> FetchedRange:
            # the hash of last_allowed before and after brackets the getLogs call: if it did not
            # change, no block at or below it changed either, so logs and headers agree
            before = self.rpc.header(last_allowed).hash
            logs, to_block = get_logs_adaptive(self.rpc, from_block, last_allowed, self.addresses, self.topics, ranger)
            wanted = list(range(from_block, to_block + 1))
            if last_allowed > to_block:
                wanted.append(last_allowed)
            headers = self.rpc.headers(wanted)
            problem = self._inconsistency(from_block, to_block, logs, headers, before, last_allowed)
            if problem:
                raise _Inconsistent(problem)
            if last_allowed > to_block:
                del headers[last_allowed]
            return FetchedRange(from_block, to_block, logs, headers)

        policy = self.options.rpc
        try:
            return call_with_retry(
                attempt,
                retryable=lambda exc: isinstance(exc, _Inconsistent),
                backoff=policy.backoff,
                on_retry=lambda _, exc: self.rpc.note_retry("eth_getLogs", str(exc)),
            )
        except _Inconsistent as exc:
            raise RpcFailed(
                f"chain {self.chain.chain_id}: eth_getLogs failed after {policy.max_attempts} attempts: {exc}"
            ) from None

    def _inconsistency(
        self,
        from_block: int,
        to_block: int,
        logs: Sequence[Any],
        headers: Mapping[int, Header],
        tip_before: str,
        last_allowed: int,
    ) -> str:
        if headers[last_allowed].hash != tip_before:
            return f"block {last_allowed} changed while reading (reorg in progress)"
        for number in range(from_block + 1, to_block + 1):
            if headers[number].parent_hash != headers[number - 1].hash:
                return f"block {number} does not link to block {number - 1} (reorg in progress)"
        verified: tuple[Any, Any] | None = None  # the last (blockNumber, blockHash) checked: logs come in order
        for log in logs:
            block = (log.get("blockNumber"), log.get("blockHash"))
            if log.get("removed") or (block != verified and not _belongs(log, headers)):
                return f"log in block {block[0]} does not belong to the canonical chain"
            verified = block
        if not logs:
            return self._empty_answer_problem(from_block, to_block, headers)
        return ""

    def _empty_answer_problem(self, from_block: int, to_block: int, headers: Mapping[int, Header]) -> str:
        flagged = [headers[n] for n in range(from_block, to_block + 1) if self.bloom.may_contain(headers[n].logs_bloom)]
        for start in range(0, len(flagged), 100):
            chunk = flagged[start : start + 100]
            answers = self.rpc.batch(
                [
                    ("eth_getLogs", [{"blockHash": h.hash, "address": self.addresses, "topics": self.topics}])
                    for h in chunk
                ]
            )
            for header, found in zip(chunk, answers, strict=True):
                if found:
                    return f"empty eth_getLogs answer, but block {header.number} holds {len(found)} tracked logs"
        return ""  # every bloom hit was a false positive, confirmed block by block

    def token_meta(self, logs: Iterable[Any]) -> dict[str, TokenMeta]:
        # the few distinct emitters first, then the check on each: a range has far fewer than logs
        emitters = {log.get("address") for log in logs}
        wanted = {a.lower() for a in emitters if isinstance(a, str)}
        if not self.chain.every_token:
            wanted &= self.token_addresses
        return self.metadata.get_many(wanted)

    def decode(self, fetched: FetchedRange) -> Decoded:
        block_times = {n: h.timestamp for n, h in fetched.headers.items()}
        with gc_paused():
            decoded = decode_logs(
                self.chain.chain_id, fetched.logs, block_times, self.token_meta(fetched.logs), self.fee_recipients
            )
        decoded.events = with_underlying(decoded.events, self.underlying)
        if decoded.malformed:
            logger.warning(
                "chain %s blocks %s-%s: skipped %s malformed logs, e.g. %s",
                self.chain.chain_id,
                fetched.from_block,
                fetched.to_block,
                decoded.malformed,
                decoded.malformed_samples[:2],
            )
        return decoded

    def close(self) -> None:
        self.rpc.close()
        self.metadata.close()
