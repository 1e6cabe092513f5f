"""Health factors read from the pools, stored with their bands, and the alerts of band crossings.

Every evaluation is `getUserAccountData(wallet)` on the pool at the block of the event that asked
for it, so the stored health factor is the pool's own at that block. The calls of a batch go out
as JSON-RPC batches (one HTTP request per `eth_call_batch` wallets) through the retrying client.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from shared.chain.endpoints import resolve_rpc_url
from shared.chain.keccak import keccak
from shared.chain.rpc import RpcClient, RpcFailed
from shared.lending import store
from shared.lending.model import (
    SEVERITY,
    AccountData,
    Latch,
    PoolPosition,
    RateLimit,
    band_of,
    health_float,
    step,
)
from shared.retry import Backoff, call_with_retry
from shared.settings import Settings
from shared.store import dynamo, keys, transact
from shared.store.bus import BusEvent, publish
from shared.tracking import CHAIN_CACHE_S, tracked_chain

logger = logging.getLogger("kith.lending")

GET_USER_ACCOUNT_DATA = "0x" + keccak(text="getUserAccountData(address)")[:4].hex()
TRIGGER = "lending.band"
EVENT_SOURCE = "kith.lending"
# a lost race is redone at once with a fresh read: the winner has already written
CONFLICTS = Backoff(attempts=8, base_delay=0.0, max_delay=0.0)
WALLET_THREADS = 8


class RpcStats:
    """JSON-RPC traffic of health evaluations: HTTP requests (a batch is one) and eth_calls inside them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, http_requests: int, eth_calls: int) -> None:
        with self._lock:
            self.counts["http_requests"] += http_requests
            self.counts["eth_calls"] += eth_calls

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()


RPC = RpcStats()
_CLIENTS: dict[tuple[int, str], RpcClient] = {}


@dataclass(frozen=True, order=True)
class Request:
    """Evaluate `address` in `pool` at `block` (whose time is `block_time`)."""

    block: int
    chain_id: int
    pool: str
    address: str
    block_time: int


def rpc_client(chain_id: int, settings: Settings) -> RpcClient:
    url = resolve_rpc_url(tracked_chain(settings, chain_id, max_age_s=CHAIN_CACHE_S))
    client = _CLIENTS.get((chain_id, url))
    if client is None:
        client = _CLIENTS[(chain_id, url)] = RpcClient(url, chain_id)
    return client


def head(chain_id: int, settings: Settings) -> tuple[int, int]:
    """The chain's newest block and its time: where a rolled-back position is re-evaluated."""
    client = rpc_client(chain_id, settings)
    header = client.header("latest")
    RPC.add(1, 0)
    return header.number, header.timestamp


# Nodes that keep only recent state (pruned full nodes, anvil with --prune-history or reloaded from a
# state file) refuse calls at old blocks; these fragments are how geth, erigon, nethermind and anvil say so.
_STATE_GONE = re.compile(
    r"missing trie node|state (is )?not available|state histor|header not found|BlockOutOfRange|"
    r"block height is \d+ but requested|pruned|historical state",
    re.IGNORECASE,
)


def read_accounts(requests: Sequence[Request], settings: Settings) -> list[tuple[Request, AccountData]]:
    """getUserAccountData of each request at its block, in JSON-RPC batches per chain.

    When the node no longer has a block's state (a backfill on a pruned node), the chunk is read at
    the chain's head instead, and the answer says so: its request carries the head's block. Health
    is about now, so a backfill evaluates the present rather than failing or alerting on the past.
    """
    answers: dict[Request, tuple[Request, AccountData]] = {}
    by_chain: dict[int, list[Request]] = {}
    for request in dict.fromkeys(requests):
        by_chain.setdefault(request.chain_id, []).append(request)
    size = settings.lending.eth_call_batch
    for chain_id, wanted in by_chain.items():
        client = rpc_client(chain_id, settings)
        for start in range(0, len(wanted), size):
            chunk = wanted[start : start + size]
            retries_before = client.retries
            try:
                results = client.batch([("eth_call", [_call(r), hex(r.block)]) for r in chunk])
                used = chunk
            except RpcFailed as exc:
                if not _STATE_GONE.search(str(exc)):
                    raise
                block, block_time = head(chain_id, settings)
                used = [replace(r, block=block, block_time=block_time) for r in chunk]
                results = client.batch([("eth_call", [_call(r), hex(r.block)]) for r in used])
            RPC.add(1 + client.retries - retries_before, len(chunk))
            for request, asked, result in zip(chunk, used, results, strict=True):
                answers[request] = (asked, AccountData.decode(str(result)))
    return [answers[r] for r in requests]


def _call(request: Request) -> dict[str, str]:
    return {"to": request.pool, "data": GET_USER_ACCOUNT_DATA + request.address[2:].lower().rjust(64, "0")}


# ---- recording -----------------------------------------------------------------------------------


@dataclass
class Recorded:
    written: int = 0  # health records written
    stale: int = 0  # evaluations older than the stored one, dropped
    alerts: int = 0  # crossings recorded (sent or rate-limited)
    fired: int = 0  # alerts published on the bus for the campaigns trigger
    band_changed: set[str] = field(default_factory=set)  # wallets whose band moved in some pool

    def merge(self, other: Recorded) -> None:
        self.written += other.written
        self.stale += other.stale
        self.alerts += other.alerts
        self.fired += other.fired
        self.band_changed |= other.band_changed


def record(evaluations: Iterable[tuple[Request, AccountData]], settings: Settings) -> Recorded:
    """Store each wallet's evaluations in block order, alert on armed downward crossings, then fire."""
    by_wallet: dict[str, list[tuple[Request, AccountData]]] = {}
    for request, data in sorted(evaluations, key=lambda e: e[0]):
        by_wallet.setdefault(request.address, []).append((request, data))
    outcome = Recorded()
    if not by_wallet:
        return outcome
    pairs = [(r.address, r.chain_id, r.pool) for items in by_wallet.values() for r, _ in items]
    loaded = store.load_health(pairs, settings)

    def work(address: str) -> Recorded:
        mine = {key: s for key, s in loaded.records.items() if key[0] == address}
        summary = loaded.summaries[address]
        done = Recorded()
        read = {"summary": summary}

        def reread(_: int, __: Exception) -> None:
            # a concurrent evaluation of this wallet won: read its records again and redo them
            fresh = store.load_health(list(mine), settings)
            mine.update(fresh.records)
            read["summary"] = fresh.summaries[address]

        pending = call_with_retry(
            lambda: _record_wallet(
                address, by_wallet[address], mine, read["summary"], loaded.positions, settings, done
            ),
            retryable=_lost_race,
            backoff=CONFLICTS,
            on_retry=reread,
        )
        _fire(pending, settings, done)
        return done

    # wallets are independent (each write is its own, version-checked) and the work waits on DynamoDB
    # and the event bus, so a few threads cut the time from a price move to its last alert
    with ThreadPoolExecutor(max_workers=min(WALLET_THREADS, len(by_wallet))) as pool:
        for done in pool.map(work, list(by_wallet)):
            outcome.merge(done)
    return outcome


def _record_wallet(
    address: str,
    items: list[tuple[Request, AccountData]],
    records: dict[tuple[str, int, str], store.Stored],
    summary: store.Stored,
    positions: dict[tuple[str, int, str], PoolPosition | None],
    settings: Settings,
    outcome: Recorded,
) -> list[store.Stored]:
    table = settings.app_table
    lending = settings.lending
    sdoc: store.LendingSummary = summary.doc.model_copy(deep=True)
    limit = RateLimit(sdoc.last_alert_at, sdoc.last_severity)
    touched: dict[tuple[str, int, str], store.HealthRecord] = {}
    alerts: list[dict[str, Any]] = []
    now = time.time()
    stale = 0
    for request, data in items:
        key = (address, request.chain_id, request.pool)
        current: store.HealthRecord = touched.get(key) or records[key].doc.model_copy(deep=True)
        if request.block <= current.block:
            stale += 1
            continue
        band = band_of(data.health_factor, lending)
        moved = step(
            Latch(current.band, frozenset(current.latched), current.seq), limit, band, request.block_time, lending
        )
        limit = moved.limit
        hf = health_float(data.health_factor, data.total_debt_base)
        warned = current.first_warned_at
        if band != "safe":
            warned = request.block_time if warned is None else min(warned, request.block_time)
            first = sdoc.first_warned_at
            sdoc.first_warned_at = request.block_time if first is None else min(first, request.block_time)
        updated = current.model_copy(
            update={
                "block": request.block,
                "block_time": request.block_time,
                "health_factor": hf,
                "health_factor_wad": str(data.health_factor),
                "total_collateral_base": str(data.total_collateral_base),
                "total_debt_base": str(data.total_debt_base),
                "band": band,
                "latched": sorted(moved.latch.latched, key=SEVERITY.__getitem__),
                "seq": moved.latch.seq,
                "first_warned_at": warned,
                "evaluated_at": now,
                "pending": list(current.pending),
            }
        )
        crossing = moved.crossing
        if crossing is not None:
            position = positions.get(key)
            sk = keys.alert_key(address, request.chain_id, request.pool, crossing.seq, crossing.band)[keys.SK]
            occurrence = f"{request.chain_id}:{request.pool}:{address}:{crossing.seq}:{crossing.band}"
            context = {
                "band": crossing.band,
                "previous_band": crossing.previous,
                "health_factor": hf,
                "health_factor_wad": str(data.health_factor),
                "chain_id": request.chain_id,
                "pool": request.pool,
                "block": request.block,
                "block_time": request.block_time,
                "debt_assets": position.debt_assets if position else [],
                "collateral_assets": position.collateral_assets if position else [],
                "total_debt_base": str(data.total_debt_base),
                "total_collateral_base": str(data.total_collateral_base),
            }
            alerts.append(
                {
                    keys.PK: keys.alert_pk(address),
                    keys.SK: sk,
                    "address": address,
                    "occurrence": occurrence,
                    "status": "rate_limited" if crossing.suppressed else "pending",
                    "seq": crossing.seq,
                    "created_at": now,
                    **{k: v for k, v in context.items() if k not in ("debt_assets", "collateral_assets")},
                    "debt_assets": context["debt_assets"] or None,
                }
            )
            if not crossing.suppressed:
                updated.pending.append(
                    store.PendingAlert(sk=sk, occurrence=occurrence, band=crossing.band, context=context)
                )
        touched[key] = updated
    if not touched:
        outcome.stale += stale
        return [s for s in records.values() if s.doc.pending]  # a redelivery: finish what a crash left unfired
    writes: list[dict[str, Any]] = []
    for key, doc in touched.items():
        writes.append(store.health_write(table, records[key], doc))
    writes += [store.alert_put(table, alert) for alert in alerts]
    sdoc.last_alert_at, sdoc.last_severity = limit.last_alert_at, limit.last_severity
    if sdoc != summary.doc:
        writes.append(store.summary_write(table, summary, sdoc))
    dynamo.client("dynamodb").transact_write_items(TransactItems=writes)
    outcome.stale += stale
    for key, doc in touched.items():
        if doc.band != records[key].doc.band:
            outcome.band_changed.add(address)
        records[key] = store.Stored(doc, records[key].version + 1, records[key].item_key)
    if sdoc != summary.doc:
        summary.doc, summary.version = sdoc, summary.version + 1
    outcome.written += len(touched)
    outcome.alerts += len(alerts)
    return [s for s in records.values() if s.doc.pending]


def _lost_race(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and transact.cancellation_reasons(exc) is not None


def _fire(records: list[store.Stored], settings: Settings, outcome: Recorded) -> None:
    """Publish each pending alert as a `lending.band` event, then note it sent. Campaigns reacts over
    the bus (docs/architecture.md, "Events"), and its fire() is idempotent per occurrence, so a crash
    between publishing and settling only repeats events that change nothing."""
    for stored in records:
        doc: store.HealthRecord = stored.doc
        events = [
            BusEvent(
                source=EVENT_SOURCE,
                detail_type=TRIGGER,
                detail={"address": doc.address, "occurrence": alert.occurrence, "context": alert.context},
            )
            for alert in doc.pending
        ]
        publish(settings.event_bus_name, events, what="lending band")
        outcome.fired += len(events)
        store.settle_alerts(stored, [alert.sk for alert in doc.pending], settings)
