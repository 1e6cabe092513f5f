"""Chain ingestion: confirmed block ranges of each configured chain into the Events table.

One range at a time (docs/architecture.md, "Ingestion"):
  1. fetch   eth_getLogs over the tracked addresses and topics with an adaptive range, then every
             header of the range in parallel batches; the answer must hang together (parent links,
             log block hashes, an unchanged tip) and an empty answer must agree with the blooms
  2. check   the range's first parent hash against the cursor's newest stored hash; a mismatch
             walks back to the common ancestor, deletes the orphaned blocks' events (the stream's
             REMOVE records are the rollback events) and rewinds the cursor
  3. decode  by shape (shared.chain.decode), with token metadata from the cache
  4. write   BatchWriteItem, 25 items a request, idempotent keys
  5. advance the cursor last, conditionally on `last_block = from - 1`

The scheduled function calls `ingest_all`. Fetching and decoding live in shared.chain.reader and writing
in shared.chain.writes, which the backfill worker uses for one range without touching the cursor.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from shared.chain.endpoints import rpc_urls_in_use
from shared.chain.ranges import AdaptiveRange
from shared.chain.reader import (
    CRASH_POINTS,
    ChainReader,
    FetchedRange,
    IngestOptions,
    InjectedCrash,
    cut_to_budget,
)
from shared.chain.reorg import (
    Cursor,
    CursorStore,
    Pending,
    ReorgTooDeep,
    cursor_is_canonical,
    extend_window,
    find_common_ancestor,
)
from shared.chain.writes import delete_orphaned, write_events
from shared.egress import scrub
from shared.settings import ChainConfig, Settings
from shared.tracking import tracked_chains

__all__ = [
    "CRASH_POINTS",
    "ChainIngest",
    "ChainReader",
    "ChainSummary",
    "IngestError",
    "IngestOptions",
    "IngestSummary",
    "InjectedCrash",
    "delete_orphaned",
    "ingest_all",
    "ingest_chain",
    "metric_values",
    "publish_metrics",
    "time_reserved_for_later_chains",
    "write_events",
]

logger = logging.getLogger("kith.ingest")


class IngestError(RuntimeError):
    """At least one chain failed; the others were still ingested. `summary` holds every chain's outcome."""

    def __init__(self, message: str, summary: IngestSummary) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass
class ChainSummary:
    chain_id: int
    start_block: int | None = None
    cursor: int | None = None
    head: int | None = None
    target: int | None = None
    ranges: int = 0
    blocks: int = 0
    logs: int = 0
    events: Counter[str] = field(default_factory=Counter)
    ignored: int = 0
    malformed: int = 0
    reorgs: int = 0
    reorg_too_deep: int = 0
    orphaned_events: int = 0
    rpc_retries: int = 0
    cursor_conflicts: int = 0
    ddb_write_requests: int = 0
    metadata_requests: int = 0
    stopped: str = ""
    error: str | None = None

    @property
    def lag_blocks(self) -> int | None:
        if self.head is None:
            return None
        return max(0, self.head - (self.cursor if self.cursor is not None else -1))

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["events"] = dict(self.events)
        values["lag_blocks"] = self.lag_blocks
        return values


@dataclass
class IngestSummary:
    chains: list[ChainSummary] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"chains": [c.to_dict() for c in self.chains], "failed": [c.chain_id for c in self.chains if c.error]}


MIN_LOGS_FOR_A_RATE = 500
# logs a range may carry before the run knows its write rate: enough to measure it, small enough to
# fit any chain's share of a run even where writes are slow (a busy table, a throttled one)
FIRST_RANGE_LOGS = 2 * MIN_LOGS_FOR_A_RATE


class ChainIngest:
    """One run over one chain, from the cursor towards the confirmed head."""

    def __init__(
        self,
        chain: ChainConfig,
        settings: Settings,
        options: IngestOptions | None = None,
        time_left: Callable[[], float] = lambda: math.inf,
    ) -> None:
        self.chain = chain
        self.settings = settings
        self.options = options or IngestOptions()
        self.time_left = time_left
        self._written_logs = 0
        self._writing_s = 0.0
        self.reader = ChainReader(chain, settings, self.options)
        self.store = CursorStore(settings.app_table, chain.chain_id)
        self.run_id = uuid.uuid4().hex[:12]
        self.summary = ChainSummary(chain_id=chain.chain_id)

    def run(self) -> ChainSummary:
        try:
            self._run()
        finally:
            self.summary.rpc_retries = self.reader.rpc.retries
            self.summary.metadata_requests = self.reader.metadata.http_requests
            self.reader.close()
        return self.summary

    def _run(self) -> None:
        cursor = self.store.load()
        self.summary.start_block = cursor.last_block
        self.summary.cursor = cursor.last_block
        self._resolve_pending(cursor)
        head, target = self.reader.confirmed_target()
        self.summary.head, self.summary.target = head, target
        ranger = AdaptiveRange(cursor.range_size or self.chain.initial_range, self.chain.max_range)
        while True:
            next_from = cursor.last_block + 1 if cursor.last_block is not None else self.chain.first_block
            if next_from > target:
                if not cursor_is_canonical(cursor, self._canonical_hashes):
                    rewound = self._handle_reorg(cursor)
                    if rewound is None:
                        return
                    cursor = rewound
                    continue
                self.summary.stopped = "caught_up"
                return
            if self.options.max_ranges is not None and self.summary.ranges >= self.options.max_ranges:
                self.summary.stopped = "max_ranges"
                return
            if self.time_left() < self.options.safety_margin_s:
                self.summary.stopped = "time"
                return
            fetched = cut_to_budget(self.reader.fetch(next_from, target, ranger), self._log_budget(), ranger)
            expected_parent = cursor.last_hash
            if expected_parent is not None and fetched.headers[next_from].parent_hash != expected_parent:
                rewound = self._handle_reorg(cursor)
                if rewound is None:
                    return
                cursor = rewound
                continue
            self.options.crash("after_fetch")
            started = time.monotonic()
            next_cursor = self._write_range(cursor, fetched, ranger)
            if next_cursor is None:
                return
            self._written_logs += len(fetched.logs)
            self._writing_s += time.monotonic() - started
            cursor = next_cursor

    def _log_budget(self) -> int:
        """Logs the next range may carry: the option's cap; until this run has written enough to know its
        rate, at most FIRST_RANGE_LOGS; then what it can write in half the time left before the safety
        margin."""
        cap = self.options.max_logs_per_range
        left = self.time_left() - self.options.safety_margin_s
        if math.isinf(left):
            return cap
        if self._written_logs < MIN_LOGS_FOR_A_RATE or self._writing_s <= 0:
            return min(cap, FIRST_RANGE_LOGS)
        affordable = int(self._written_logs / self._writing_s * max(0.0, left) / 2)
        return max(1, min(cap, affordable))

    def _write_range(self, cursor: Cursor, fetched: FetchedRange, ranger: AdaptiveRange) -> Cursor | None:
        decoded = self.reader.decode(fetched)
        tip = fetched.headers[fetched.to_block].hash
        pending = Pending(self.run_id, fetched.from_block, fetched.to_block, tip)
        if not self.store.mark_pending(cursor.last_block, pending):
            return self._conflict(fetched.from_block)
        self.summary.ddb_write_requests += write_events(
            self.settings.events_table,
            decoded.events,
            self.options.write_workers,
            crash_midway="mid_write" in self.options.crash_points,
        )
        self.options.crash("before_cursor")
        tail = range(max(fetched.from_block, fetched.to_block - self.chain.reorg_window + 1), fetched.to_block + 1)
        window = extend_window(cursor.window, [(n, fetched.headers[n].hash) for n in tail], self.chain.reorg_window)
        if not self.store.advance(cursor.last_block, fetched.to_block, window, ranger.size, self.run_id):
            return self._conflict(fetched.from_block)
        summary = self.summary
        summary.ranges += 1
        summary.blocks += fetched.to_block - fetched.from_block + 1
        summary.logs += len(fetched.logs)
        summary.ignored += decoded.ignored
        summary.malformed += decoded.malformed
        summary.events.update(e.kind for e in decoded.events)
        summary.cursor = fetched.to_block
        return Cursor(self.chain.chain_id, fetched.to_block, window, ranger.size, [])

    def _conflict(self, from_block: int) -> Cursor | None:
        # another run moved the cursor first: its work stands, ours stops without an error storm
        logger.info("chain %s: cursor moved by another run before block %s; stopping", self.chain.chain_id, from_block)
        self.summary.cursor_conflicts += 1
        self.summary.stopped = "cursor_conflict"
        return None

    def _canonical_hashes(self, numbers: Sequence[int]) -> dict[int, str]:
        return {n: h.hash for n, h in self.reader.rpc.headers(numbers).items()}

    def _handle_reorg(self, cursor: Cursor) -> Cursor | None:
        assert cursor.last_block is not None
        self.summary.reorgs += 1
        ancestor = find_common_ancestor(cursor.window, self._canonical_hashes)
        if ancestor is None:
            self.summary.reorg_too_deep += 1
            raise ReorgTooDeep(
                f"chain {self.chain.chain_id}: reorg deeper than the kept window of {len(cursor.window)} blocks "
                f"(cursor at {cursor.last_block}); ingestion of this chain is stopped until an operator acts"
            )
        orphaned = range(ancestor + 1, cursor.last_block + 1)
        # events go first: if we die before the rewind, the next run sees the same mismatch again
        self.summary.orphaned_events += delete_orphaned(self.settings.events_table, self.chain.chain_id, orphaned)
        window = [pair for pair in cursor.window if pair[0] <= ancestor]
        logger.warning(
            "chain %s: reorg of %s blocks, common ancestor %s; orphaned events deleted",
            self.chain.chain_id,
            cursor.last_block - ancestor,
            ancestor,
        )
        if not self.store.rewind(cursor.last_block, ancestor, window):
            return self._conflict(cursor.last_block + 1)
        self.summary.cursor = ancestor
        return Cursor(self.chain.chain_id, ancestor, window, cursor.range_size, [])

    def _resolve_pending(self, cursor: Cursor) -> None:
        """Clean up after runs that wrote events but never moved the cursor (they crashed or lost a race)."""
        for pending in cursor.pending:
            tip = self.reader.rpc.call("eth_getBlockByNumber", [hex(pending.to_block), False], allow_null=True)
            if tip is None or tip.get("hash") != pending.tip_hash:
                numbers = list(range(pending.from_block, pending.to_block + 1))
                answers = self.reader.rpc.batch(
                    [("eth_getBlockByNumber", [hex(n), False]) for n in numbers], allow_null=True
                )
                canonical = {n: a["hash"] for n, a in zip(numbers, answers, strict=True) if a is not None}
                removed = delete_orphaned(self.settings.events_table, self.chain.chain_id, numbers, canonical)
                self.summary.orphaned_events += removed
                logger.warning(
                    "chain %s: run %s left events of blocks %s-%s that a reorg orphaned; deleted %s",
                    self.chain.chain_id,
                    pending.run_id,
                    pending.from_block,
                    pending.to_block,
                    removed,
                )
            self.store.clear_pending(pending.run_id)


def ingest_chain(
    chain: ChainConfig,
    settings: Settings,
    options: IngestOptions | None = None,
    time_left: Callable[[], float] = lambda: math.inf,
) -> ChainSummary:
    """Ingest one chain until caught up, out of time, or stopped by a conflicting run. Raises on failure."""
    return ChainIngest(chain, settings, options, time_left).run()


def time_reserved_for_later_chains(time_left_s: float, later_chains: int) -> float:
    """Seconds of `time_left_s` kept for the chains after this one: all but an equal share of it."""
    if math.isinf(time_left_s) or later_chains <= 0:
        return 0.0
    return max(0.0, time_left_s) * later_chains / (later_chains + 1)


def _less(time_left: Callable[[], float], reserved: float) -> Callable[[], float]:
    return lambda: time_left() - reserved


def ingest_all(
    settings: Settings,
    time_left: Callable[[], float] = lambda: math.inf,
    options: IngestOptions | None = None,
    chain_ids: Iterable[int] | None = None,
    raise_on_failure: bool = True,
) -> IngestSummary:
    """The scheduled entry point: every configured chain (or `chain_ids`), one failure never stops the others.

    `time_left` returns the seconds remaining (the Lambda context's remaining time); each chain has an
    equal share of what is left when its turn comes, and stops starting new ranges once its share drops
    below `options.safety_margin_s`. After all chains ran, a
    failure is raised as IngestError (so the invocation is marked failed and alarms fire).
    """
    summary = IngestSummary()
    wanted = set(chain_ids) if chain_ids is not None else None
    chains = [c for c in tracked_chains(settings) if wanted is None or c.chain_id in wanted]
    for index, chain in enumerate(chains):
        # each chain may use its share of the time left, so a chain far behind never starves the ones after
        # it; a chain that catches up early leaves what it did not use to the next
        reserved = time_reserved_for_later_chains(time_left(), len(chains) - index - 1)
        chain_time_left = _less(time_left, reserved)
        if not chain.contracts and not chain.every_token:
            # eth_getLogs with no address reads every contract on the chain, which only every_token asks
            # for: a chain whose last contract was removed waits, its cursor where it was, until one is
            # tracked again
            summary.chains.append(ChainSummary(chain_id=chain.chain_id, stopped="no_contracts"))
            continue
        run = None
        try:
            run = ChainIngest(chain, settings, options, chain_time_left)
            result = run.run()
        except ReorgTooDeep as exc:
            logger.error("%s", exc)
            result = run.summary if run is not None else ChainSummary(chain.chain_id)
            result.reorg_too_deep = max(1, result.reorg_too_deep)
            result.error, result.stopped = str(exc), "reorg_too_deep"
        except Exception as exc:
            # the result, the log line and the traceback leave the function: none may quote an RPC URL,
            # whose path or query holds the provider's key
            secret_urls = rpc_urls_in_use(settings)
            reason = scrub(f"{type(exc).__name__}: {exc}", secret_urls)
            trace = scrub(traceback.format_exc(), secret_urls)
            logger.error("chain %s: ingestion failed: %s\n%s", chain.chain_id, reason, trace)
            result = run.summary if run is not None else ChainSummary(chain.chain_id)
            result.error, result.stopped = reason, "error"
        summary.chains.append(result)
    failed = [c for c in summary.chains if c.error]
    if failed and raise_on_failure:
        raise IngestError("; ".join(str(c.error) for c in failed), summary)
    return summary


def metric_values(summary: IngestSummary) -> dict[str, int]:
    """Totals for EMF: Blocks, Logs, Events<Kind>, Reorgs, ReorgTooDeep, RpcRetries, IgnoredLogs,
    MalformedLogs, MetadataRequests, ..."""
    totals: Counter[str] = Counter()
    for chain in summary.chains:
        totals["Blocks"] += chain.blocks
        totals["Logs"] += chain.logs
        totals["Events"] += sum(chain.events.values())
        for kind, count in chain.events.items():
            totals[f"Events{kind.capitalize()}"] += count
        totals["Reorgs"] += chain.reorgs
        totals["ReorgTooDeep"] += chain.reorg_too_deep
        totals["RpcRetries"] += chain.rpc_retries
        totals["IgnoredLogs"] += chain.ignored
        totals["MalformedLogs"] += chain.malformed
        totals["MetadataRequests"] += chain.metadata_requests
        totals["CursorConflicts"] += chain.cursor_conflicts
        totals["ChainFailures"] += 1 if chain.error else 0
        totals["LagBlocks"] = max(totals["LagBlocks"], chain.lag_blocks or 0)
    return dict(totals)


def publish_metrics(summary: IngestSummary, metrics: Any) -> None:
    """Add the run's totals to a Powertools Metrics object (flushed by its log_metrics decorator)."""
    for name, value in metric_values(summary).items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
