"""History replay: a wallet changed by events older than the live horizon is evaluated once, when the
replay has gone quiet, instead of after each of its historical events (docs/architecture.md, "History replay").

Catching up with months of history applies each wallet's events in chain order, and between two of
them the wallet looks as it did back then: inactive, drifting, below a threshold. Matched against the
present at each step, it would enter and leave segments it never belonged to now, and publish entries
that fire triggered campaigns; each step would also cost a read, a transaction and an event. So the
segments function marks such a wallet pending instead (one BatchWriteItem per 25 wallets), and a drain
job on the segment-evaluation queue evaluates every pending wallet once the replay is quiet: no
replayed change for `replay_quiet_s`.

Exactly once, without locks:
- the state item counts generations; a mark carries the generation it was written in;
- a drain starts by moving to the next generation, on the condition that nothing was replayed since
  it saw the replay quiet, then evaluates the marks of older generations and deletes each on the
  condition that it was not marked again meanwhile;
- it ends by clearing `drain_scheduled` on the same condition; a replay that resumed during the drain
  fails that condition, and the drain is scheduled again after the next quiet spell;
- the function that sets `drain_scheduled` is the one that sends the delayed drain message, so one
  drain chain runs at a time (a redelivered message repeats idempotent evaluations only).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel

from shared.segments.wallets import evaluate_wallets
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.paging import query_page
from shared.store.transact import is_condition_failure

DRAIN_PAGE = 200
# the wallet items a replayed event changes: the profile, and the lending position and health record its
# lending and price events move. Tags are set by an operator, in the present. A live price move on a dormant
# borrower's health waits for the replay's quiet spell too; its alert does not (the health function sends it).
REPLAYABLE_KINDS = frozenset({"profile", "lending_position", "health"})


@dataclass(frozen=True)
class WalletChange:
    """One changed item of a wallet's partition, as the segments function learns of it."""

    address: str
    kind: keys.WalletItemKind


@dataclass(frozen=True)
class Routed:
    live: list[str]
    replayed: list[str]


def is_replayed(last_active: int | None, now: int, settings: Settings) -> bool:
    """A profile whose newest event is older than the horizon is being replayed: a live chain's
    events are minutes old when they arrive, a catch-up's or a backfill's are not."""
    return last_active is not None and last_active < now - settings.segments.history_horizon_s


def route(changes: Sequence[WalletChange], now: int, settings: Settings) -> Routed:
    """Which changed wallets are evaluated now and which wait for the replay to go quiet. A wallet with a
    change made in the present (a tag, a health band) is evaluated now, with everything it has."""
    order = list(dict.fromkeys(c.address for c in changes))
    present = {c.address for c in changes if c.kind not in REPLAYABLE_KINDS}
    candidates = [a for a in order if a not in present]
    last_active = _last_active(candidates, settings)
    replayed = {a for a in candidates if is_replayed(last_active.get(a), now, settings)}
    return Routed(live=[a for a in order if a not in replayed], replayed=[a for a in order if a in replayed])


def _last_active(addresses: list[str], settings: Settings) -> dict[str, int | None]:
    found = dynamo.batch_get_by_key(settings.app_table, [keys.profile_key(a) for a in addresses], consistent=False)
    by_address: dict[str, int | None] = {}
    for item in found.values():
        values = dynamo.from_item(item)
        last = values.get("last_active")
        by_address[keys.wallet_of(values["pk"])] = int(last) if last is not None else None
    return by_address


class _MarkedThisGeneration(threading.local):
    """Wallets this execution environment already marked in the current generation: a replay touches a
    wallet in batch after batch, and one mark per generation is enough (a warm container's memory only
    saves writes; a cold one writes the marks again, which changes nothing)."""

    def __init__(self) -> None:
        self.table = ""
        self.generation = -1
        self.addresses: set[str] = set()

    def unmarked(self, table: str, generation: int, addresses: Iterable[str]) -> list[str]:
        if (table, generation) != (self.table, self.generation):
            self.table, self.generation, self.addresses = table, generation, set()
        return [a for a in addresses if a not in self.addresses]


_marked = _MarkedThisGeneration()


def defer(addresses: Sequence[str], now: int, settings: Settings) -> int:
    """Mark replayed wallets pending and make sure a drain will run; returns how many marks were written."""
    if not addresses:
        return 0
    db = dynamo.client("dynamodb")
    # the state first: a drain starts only after `replay_quiet_s` without this write, so the marks
    # below always land in the generation it returns
    old = db.update_item(
        TableName=settings.app_table,
        Key=dynamo.to_item(keys.replay_state_key()),
        UpdateExpression=(
            "SET last_history_at = :now, drain_scheduled = :yes, generation = if_not_exists(generation, :zero)"
        ),
        ExpressionAttributeValues={":now": {"N": str(now)}, ":yes": {"BOOL": True}, ":zero": {"N": "0"}},
        ReturnValues="ALL_OLD",
    ).get("Attributes")
    before = dynamo.from_item(old) if old else {}
    generation = int(before.get("generation", 0))
    fresh = _marked.unmarked(settings.app_table, generation, addresses)
    dynamo.batch_write(
        settings.app_table,
        puts=[dynamo.to_item({**keys.replay_pending_key(a), "generation": generation}) for a in fresh],
    )
    _marked.addresses.update(fresh)
    if not before.get("drain_scheduled"):
        schedule_drain(settings, settings.segments.replay_quiet_s)
    return len(fresh)


class ReplayDrainJob(BaseModel):
    """One page of the drain, as a message on the segment-evaluation queue."""

    kind: Literal["replay-drain"] = "replay-drain"
    # set by the first page: the generation the drain moved to, and the replay time it saw quiet
    generation: int | None = None
    since: int | None = None
    shard: int = 0
    start_key: dict[str, Any] | None = None


def schedule_drain(settings: Settings, delay_s: int, job: ReplayDrainJob | None = None) -> None:
    dynamo.client("sqs").send_message(
        QueueUrl=settings.segment_eval_queue_url,
        MessageBody=(job or ReplayDrainJob()).model_dump_json(),
        DelaySeconds=max(0, min(900, delay_s)),
    )


@dataclass(frozen=True)
class ReplayState:
    last_history_at: int
    drain_scheduled: bool
    generation: int


def replay_state(settings: Settings) -> ReplayState | None:
    item = (
        dynamo.client("dynamodb")
        .get_item(TableName=settings.app_table, Key=dynamo.to_item(keys.replay_state_key()), ConsistentRead=True)
        .get("Item")
    )
    if not item:
        return None
    values = dynamo.from_item(item)
    return ReplayState(
        last_history_at=int(values.get("last_history_at", 0)),
        drain_scheduled=bool(values.get("drain_scheduled")),
        generation=int(values.get("generation", 0)),
    )


def run_drain(job: ReplayDrainJob, settings: Settings, now: int) -> int:
    """One page of the drain; returns how many wallets it evaluated (the next page is already enqueued)."""
    if job.generation is None or job.since is None:
        started = _start(settings, now)
        if started is None:
            return 0
        job = started
    assert job.generation is not None and job.since is not None
    page = query_page(
        settings.app_table,
        limit=DRAIN_PAGE,
        start=job.start_key,
        KeyConditionExpression="pk = :p",
        FilterExpression="generation < :g",
        ExpressionAttributeValues={":p": {"S": keys.replay_partition(job.shard)}, ":g": {"N": str(job.generation)}},
        ConsistentRead=True,
    )
    marks = [dynamo.from_item(item) for item in page.items]
    evaluate_wallets([str(m["sk"]) for m in marks], settings)
    for mark in marks:
        _unmark(str(mark["sk"]), int(mark["generation"]), settings)
    if page.next_key is not None:
        schedule_drain(settings, 0, job.model_copy(update={"start_key": page.next_key}))
    elif job.shard + 1 < keys.REPLAY_SHARDS:
        schedule_drain(settings, 0, job.model_copy(update={"shard": job.shard + 1, "start_key": None}))
    else:
        _finish(job.since, settings)
    return len(marks)


def _start(settings: Settings, now: int) -> ReplayDrainJob | None:
    """Move to the next generation if the replay is quiet; otherwise wait for it (None: nothing to do now)."""
    state = replay_state(settings)
    if state is None or not state.drain_scheduled:
        return None  # a duplicate of a drain that already ended
    quiet_for = now - state.last_history_at
    if quiet_for < settings.segments.replay_quiet_s:
        schedule_drain(settings, settings.segments.replay_quiet_s - quiet_for)
        return None
    try:
        dynamo.client("dynamodb").update_item(
            TableName=settings.app_table,
            Key=dynamo.to_item(keys.replay_state_key()),
            UpdateExpression="SET generation = :next",
            ConditionExpression="last_history_at = :since AND generation = :current",
            ExpressionAttributeValues={
                ":next": {"N": str(state.generation + 1)},
                ":since": {"N": str(state.last_history_at)},
                ":current": {"N": str(state.generation)},
            },
        )
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise
        # replayed meanwhile, or a duplicate drain moved first: the one that did carries on
        if (current := replay_state(settings)) is not None and current.generation == state.generation:
            schedule_drain(settings, settings.segments.replay_quiet_s)
        return None
    return ReplayDrainJob(generation=state.generation + 1, since=state.last_history_at)


def _unmark(address: str, generation: int, settings: Settings) -> None:
    """Delete a mark unless the wallet was replayed again (and marked in a newer generation) meanwhile."""
    try:
        dynamo.client("dynamodb").delete_item(
            TableName=settings.app_table,
            Key=dynamo.to_item(keys.replay_pending_key(address)),
            ConditionExpression="generation = :g",
            ExpressionAttributeValues={":g": {"N": str(generation)}},
        )
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise


def _finish(since: int, settings: Settings) -> None:
    try:
        dynamo.client("dynamodb").update_item(
            TableName=settings.app_table,
            Key=dynamo.to_item(keys.replay_state_key()),
            UpdateExpression="REMOVE drain_scheduled",
            ConditionExpression="last_history_at = :since",
            ExpressionAttributeValues={":since": {"N": str(since)}},
        )
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise
        # the replay resumed while this drain ran: its new marks wait for the next quiet spell
        schedule_drain(settings, settings.segments.replay_quiet_s)


def parse_drain_job(body: str) -> ReplayDrainJob | None:
    """The drain job a queue message carries, or None when it carries another job."""
    data = json.loads(body)
    return ReplayDrainJob.model_validate(data) if data.get("kind") == "replay-drain" else None
