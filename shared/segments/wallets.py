"""Evaluating wallets against the segments: re-derive a wallet with shared.intel, then store its state
and its membership changes together and publish them (docs/architecture.md, "Profiles, scores and rules").

Run by the segments function whenever a wallet's items change, and by the sweep when a wallet's due
date (the earliest instant its labels, churn state or any segment answer can change by time alone) comes.
Everything it stores is derived, so a redelivery or a second run writes the same result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from shared import churn, loyalty
from shared.intel import (
    ChurnState,
    Context,
    WalletInputs,
    WalletState,
    apply_loyalty,
    due_wallets,
    label_due,
    load_churn_model,
    load_wallet,
    next_churn_state,
    next_state,
    population_labels,
    publish_tier_change,
)
from shared.intel.codecs import WALLET_STATE_CODEC
from shared.intel.lending_records import loyalty_inputs
from shared.labels import churn_state as derived_churn_state
from shared.labels import labels_for
from shared.segments.evaluate import matches, time_sensitivity
from shared.segments.facts import WalletFacts
from shared.segments.store import (
    SegmentDefinition,
    apply_membership,
    current_memberships,
    list_segments,
    member_put,
    publish_changes,
)
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.paging import query_items, query_page
from shared.store.transact import cancellation_reasons, versioned_put

EVALUATION_THREADS = 8


@dataclass
class EvaluationContext(Context):
    """The intel context plus the segment definitions every wallet of the invocation is matched against."""

    segments: list[SegmentDefinition] = field(default_factory=list)


def load_context(settings: Settings) -> EvaluationContext:
    return EvaluationContext(settings=settings, model=load_churn_model(settings), segments=list_segments(settings))


def shard_page(
    shard: int, limit: int, start: dict[str, Any] | None, settings: Settings, highest_first: bool = False
) -> tuple[list[str], dict[str, Any] | None]:
    """Up to `limit` wallets of one score shard from `start` on, and where the next page starts (None: the end)."""
    page = query_page(
        settings.app_table,
        limit=limit,
        start=start,
        IndexName=keys.GSI1,
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.score_partition(shard)}},
        ScanIndexForward=not highest_first,
        ProjectionExpression="pk",
    )
    return [keys.wallet_of(dynamo.from_item(i)["pk"]) for i in page.items], page.next_key


@dataclass
class Outcome:
    address: str
    state: WalletState
    entered: list[str]
    exited: list[str]


@dataclass
class Derived:
    facts: WalletFacts
    churn_state: ChurnState
    p_alive: float
    churn_due: int | None
    labels: list[str]
    loyalty: loyalty.Loyalty | None = None
    loyalty_due: int | None = None
    risk: churn.WalletRisk | None = None


def derive(inputs: WalletInputs, context: Context, now: int) -> Derived:
    """Labels, churn state and the facts segment rules read, for one loaded wallet."""
    settings = context.settings
    profile, holdings = inputs.profile, inputs.holdings
    day_numbers = [int(d) for d in profile.active_days]
    first_seen = profile.first_seen or now
    p_alive, churn_due = churn.wallet_churn(
        context.model, first_seen, day_numbers, now, settings.labels.at_risk_p_alive
    )
    risk = churn.wallet_risk(context.model, first_seen, day_numbers, now)
    if risk.at_risk is not None:
        # the model's risk threshold decides "at risk", so its crossing date is what the sweep waits for
        churn_due = risk.due
    state_name = next_churn_state(
        profile,
        derived_churn_state(profile, holdings, now, settings.labels),
        p_alive,
        now,
        settings,
        at_risk=risk.at_risk,
    )
    whale = population_labels(holdings, context)
    lending = inputs.lending
    # liquidated is read off the profile's liquidation count (exact, exactly once) or the positions
    outside = whale | ({"liquidated"} if profile.liquidations > 0 or lending.liquidated_at is not None else set())
    labels = sorted(outside | set(labels_for(profile, holdings, now, settings.labels)))
    behaviour = loyalty_inputs(profile, holdings, lending)
    facts = WalletFacts.of(
        profile,
        holdings,
        now,
        settings=settings,
        tags=inputs.tags,
        population_labels=outside,
        churn_state=state_name,
        churn_due=churn_due,
        health=lending.bands,
        min_health_factor=lending.min_health_factor,
        loyalty=behaviour,
    )
    tier = loyalty.loyalty(behaviour, now, settings.loyalty)
    due = loyalty.next_change(behaviour, now, settings.loyalty)
    return Derived(facts, state_name, p_alive, churn_due, labels, tier, due, risk)


def evaluate_wallet(address: str, context: EvaluationContext, now: int | None = None) -> Outcome | None:
    """Re-derive one wallet's labels, churn state and memberships; store what changed."""
    now = now or int(time.time())
    settings = context.settings
    inputs = load_wallet(address, settings)
    if inputs is None:
        return _forget_wallet(address, context, now)
    derived = derive(inputs, context, now)
    segment_ids = [s.segment_id for s in context.segments]
    members_now = {s.segment_id for s in context.segments if matches(s.rule, derived.facts)}
    if inputs.state is not None and inputs.state.segments is not None:
        members_before = set(inputs.state.segments) & set(segment_ids)
    else:
        members_before = current_memberships(address, segment_ids, settings)
    entered = [s for s in context.segments if s.segment_id in members_now - members_before]
    exited = [s for s in context.segments if s.segment_id in members_before - members_now]
    due_candidates = [derived.churn_due, *(time_sensitivity(s.rule, derived.facts) for s in context.segments)]
    due_candidates += label_due(inputs.profile, inputs.holdings, derived.churn_state, settings)
    due_candidates.append(derived.loyalty_due)
    due = min((d for d in due_candidates if d is not None and d > now), default=None)
    state = next_state(
        address, inputs.state, derived.churn_state, derived.labels, derived.p_alive, due, now, derived.risk
    )
    state.segments = sorted(members_now)
    tier_change = apply_loyalty(state, inputs.state, derived.loyalty, settings)
    if _store_state(state, inputs.state_version, entered, exited, settings):
        publish_changes(
            [("segment.entered", s, address) for s in entered] + [("segment.exited", s, address) for s in exited],
            now,
            settings,
        )
        if tier_change is not None:
            publish_tier_change(address, *tier_change, state, now, settings)
    return Outcome(address, state, [s.segment_id for s in entered], [s.segment_id for s in exited])


def _store_state(
    state: WalletState,
    version: int,
    entered: list[SegmentDefinition],
    exited: list[SegmentDefinition],
    settings: Settings,
) -> bool:
    """State and membership changes in one transaction, so the state's segment list and the MEMBER#
    items can never disagree. False when a concurrent evaluation of the wallet won (nothing written)."""
    due = keys.due_gsi(state.address, state.due) if state.due is not None else {}
    item = WALLET_STATE_CODEC.encode(
        keys.wallet_state_key(state.address), state, churn_state=state.churn_state, labels=state.labels or None, **due
    )
    writes: list[dict[str, Any]] = [versioned_put(settings.app_table, item, version)]
    writes += [
        {
            "Put": {
                "TableName": settings.app_table,
                "Item": member_put(s.segment_id, state.address, s.version, state.evaluated_at),
            }
        }
        for s in entered
    ]
    writes += [
        {
            "Delete": {
                "TableName": settings.app_table,
                "Key": dynamo.to_item(keys.member_key(s.segment_id, state.address)),
            }
        }
        for s in exited
    ]
    try:
        dynamo.client("dynamodb").transact_write_items(TransactItems=writes)
    except ClientError as exc:
        if cancellation_reasons(exc) is None:
            raise
        return False
    return True


def _forget_wallet(address: str, context: EvaluationContext, now: int) -> Outcome | None:
    """Every event of the wallet was rolled back: it leaves its segments and its state goes."""
    settings = context.settings
    before = current_memberships(address, [s.segment_id for s in context.segments], settings)
    exited = [s for s in context.segments if s.segment_id in before]
    apply_membership(address, [], exited, now, settings)
    dynamo.client("dynamodb").delete_item(
        TableName=settings.app_table, Key=dynamo.to_item(keys.wallet_state_key(address))
    )
    return None


def sweep(settings: Settings, now: int | None = None, time_left: Callable[[], float] | None = None) -> int:
    """Re-evaluate the wallets that have come due, and only those; returns how many."""
    now = now or int(time.time())
    context = load_context(settings)
    done = 0
    for address in due_wallets(now, settings):
        if time_left is not None and time_left() < 10:
            break  # the next run picks up the rest: they are still due
        evaluate_wallet(address, context, now)
        done += 1
    return done


def evaluate_wallets(addresses: Iterable[str], settings: Settings) -> list[Outcome]:
    """The segments function's work for one stream batch: each changed wallet once, then the wallets
    whose whale label may have moved because another wallet's balance moved a token's whale floor."""
    context = load_context(settings)
    first = list(dict.fromkeys(addresses))
    outcomes = _evaluate_concurrently(first, context)
    outcomes += _evaluate_concurrently(_whale_floor_movers(context, set(first)), context)
    return outcomes


def _evaluate_concurrently(addresses: list[str], context: EvaluationContext) -> list[Outcome]:
    """Wallets are independent (each write is its own, version-checked), and the work is waiting on
    DynamoDB, so a few threads cut a batch's latency without changing its result."""
    if not addresses:
        return []
    with ThreadPoolExecutor(max_workers=min(EVALUATION_THREADS, len(addresses))) as pool:
        results = list(pool.map(lambda address: evaluate_wallet(address, context), addresses))
    return [r for r in results if r is not None]


def _whale_floor_movers(context: EvaluationContext, done: set[str]) -> list[str]:
    """Holders at or above the lower of a token's old and new whale floor, when the floor moved."""
    db = dynamo.client("dynamodb")
    table = context.settings.app_table
    movers: list[str] = []
    for (chain_id, contract), floor in list(context.whale_floor.items()):
        stats_key = dynamo.to_item(keys.token_stats_key(chain_id, contract))
        stats = db.get_item(TableName=table, Key=stats_key).get("Item")
        stored: str | None = dynamo.from_item(stats).get("whale_floor") if stats else None
        if stored == str(floor):
            continue
        lowest = min(floor, int(stored)) if stored else floor
        holders = query_items(
            table,
            IndexName=keys.GSI2,
            KeyConditionExpression="gsi2pk = :p AND gsi2sk >= :floor",
            ExpressionAttributeValues={
                ":p": {"S": keys.holders_partition(chain_id, contract)},
                ":floor": {"S": keys.holders_gsi(chain_id, contract, max(lowest, 1))["gsi2sk"]},
            },
            ProjectionExpression="address",
        )
        movers += [h["address"] for h in holders if h["address"] not in done]
        db.update_item(
            TableName=table,
            Key=stats_key,
            UpdateExpression="SET whale_floor = :f",
            ExpressionAttributeValues={":f": {"S": str(floor)}},
        )
    return list(dict.fromkeys(movers))
