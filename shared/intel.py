"""Wallet intelligence: labels, churn state, segment membership and the next due date of one wallet.

Run by the segments function whenever a profile changes, and by the sweep when a wallet's due date
(the earliest instant its labels, churn state or any segment answer can change by time alone) comes.
Everything it stores is derived, so a redelivery or a second run writes the same result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared import churn, loyalty
from shared.events import Standard
from shared.lending.wallet import LendingRecords
from shared.profiles.model import DAY, Holding, WalletProfile
from shared.profiles.store import holder_count, token_supply
from shared.settings import Settings, get_settings
from shared.store import dynamo, keys
from shared.store.bus import BusEvent, publish

ChurnState = Literal["active", "at_risk", "dormant", "exited", "resurrected"]
MAX_TRANSITIONS = 20
EVALUATION_THREADS = 8


class Transition(BaseModel):
    from_state: str
    to_state: str
    at: int


class WalletState(BaseModel):
    address: str
    churn_state: ChurnState = "active"
    churn_since: int = 0
    transitions: list[Transition] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    p_alive: float | None = None
    # P(no activity in the next churn_risk_horizon_days days), its percentile in the fitted population, and
    # when it reaches the model's at-risk threshold if the wallet stays silent (shared.churn.wallet_risk)
    churn_risk: float | None = None
    churn_risk_percentile: float | None = None
    churn_risk_horizon_days: float | None = None
    churn_risk_due: int | None = None
    due: int | None = None
    evaluated_at: int = 0
    # the segments the wallet is a member of; written in one transaction with the MEMBER# items
    segments: list[str] | None = None
    # loyalty: the tier and points of the formula version that computed them
    tier: str | None = None
    loyalty_points: float | None = None
    loyalty_version: int | None = None


@dataclass
class WalletInputs:
    profile: WalletProfile
    holdings: list[Holding]
    tags: set[str]
    state: WalletState | None
    state_version: int
    contact_ids: list[str] = field(default_factory=list)
    lending: LendingRecords = field(default_factory=LendingRecords)


@dataclass
class Context:
    """What one invocation shares across wallets: the settings, model and whale cut-offs."""

    settings: Settings
    model: churn.ChurnModel
    whale_floor: dict[tuple[int, str], int] = field(default_factory=dict)
    supply: dict[tuple[int, str], float] = field(default_factory=dict)


def load_churn_model(settings: Settings) -> churn.ChurnModel:
    item = (
        dynamo.client("dynamodb")
        .get_item(TableName=settings.app_table, Key=dynamo.to_item(keys.churn_model_key()))
        .get("Item")
    )
    if item:
        return churn.ChurnModel.model_validate_json(item["doc"]["S"])
    return churn.prior_model()


def save_churn_model(model: churn.ChurnModel, settings: Settings) -> None:
    db = dynamo.client("dynamodb")
    for key in (keys.churn_model_key(), keys.churn_model_key(model.version)):
        db.put_item(TableName=settings.app_table, Item={**dynamo.to_item(key), "doc": {"S": model.model_dump_json()}})


def load_wallet(address: str, settings: Settings) -> WalletInputs | None:
    """Profile, holdings, tags and state in one Query (the timeline lives in its own partition)."""
    db = dynamo.client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": settings.app_table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": keys.wallet_pk(address)}},
        "ConsistentRead": True,
    }
    profile: WalletProfile | None = None
    holdings: list[Holding] = []
    tags: set[str] = set()
    contact_ids: list[str] = []
    state: WalletState | None = None
    state_version = 0
    lending = LendingRecords()
    while True:
        response = db.query(**kwargs)
        for raw in response["Items"]:
            sk = raw["sk"]["S"]
            if sk == "PROFILE":
                profile = WalletProfile.model_validate_json(raw["doc"]["S"])
            elif sk.startswith(keys.HOLDING_PREFIX):
                holdings.append(Holding.model_validate_json(raw["doc"]["S"]))
            elif sk.startswith(keys.TAG_PREFIX):
                tags.add(sk.removeprefix(keys.TAG_PREFIX))
            elif sk.startswith(keys.CONTACT_PREFIX):
                contact_ids.append(sk.removeprefix(keys.CONTACT_PREFIX))
            elif sk == "STATE":
                state = WalletState.model_validate_json(raw["doc"]["S"])
                state_version = int(raw["v"]["N"])
            else:
                lending.absorb(sk, raw)
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    if profile is None:
        return None
    return WalletInputs(profile, holdings, tags, state, state_version, contact_ids, lending)


def population_labels(holdings: Iterable[Holding], context: Context) -> set[str]:
    """Whale: in the top share of a token's holders by balance (at least the single largest), or holding
    at least the configured share of its supply."""
    share = context.settings.labels.whale_supply_share
    for holding in holdings:
        if holding.standard != Standard.ERC20 or holding.balance <= 0:
            continue
        floor = _whale_floor(holding.chain_id, holding.contract, context)
        if floor is not None and holding.balance >= floor:
            return {"whale"}
        supply = _supply(holding.chain_id, holding.contract, context)
        if supply > 0 and holding.balance >= share * supply:
            return {"whale"}
    return set()


def _supply(chain_id: int, contract: str, context: Context) -> float:
    cache_key = (chain_id, contract)
    if cache_key not in context.supply:
        context.supply[cache_key] = token_supply(chain_id, contract, context.settings)
    return context.supply[cache_key]


def _whale_floor(chain_id: int, contract: str, context: Context) -> int | None:
    cache_key = (chain_id, contract)
    if cache_key not in context.whale_floor:
        holders = holder_count(chain_id, contract, context.settings)
        top = max(1, math.ceil(holders * context.settings.labels.whale_top_fraction))
        response = dynamo.client("dynamodb").query(
            TableName=context.settings.app_table,
            IndexName=keys.GSI2,
            KeyConditionExpression="gsi2pk = :p",
            ExpressionAttributeValues={":p": {"S": keys.holders_partition(chain_id, contract)}},
            ScanIndexForward=False,
            Limit=top,
            ProjectionExpression="gsi2sk",
        )
        balances = [int(i["gsi2sk"]["S"]) for i in response["Items"]]
        context.whale_floor[cache_key] = balances[-1] if balances and balances[-1] > 0 else 0
    floor = context.whale_floor[cache_key]
    return floor or None


def came_back_at(profile: WalletProfile, settings: Settings) -> int | None:
    """Start of the wallet's latest activity after a silence of at least `dormant_days`, if any.

    Read off the active days alone, so it does not depend on when (or how late, during a backfill)
    the wallet happens to be evaluated.
    """
    days = sorted(int(d) for d, n in profile.active_days.items() if n > 0)
    for earlier, later in zip(reversed(days[:-1]), reversed(days[1:]), strict=True):
        if later - earlier >= settings.labels.dormant_days:
            return later * DAY
    return None


def next_churn_state(
    profile: WalletProfile,
    derived: str,
    p_alive: float,
    now: int,
    settings: Settings,
    *,
    at_risk: bool | None = None,
) -> ChurnState:
    """exited and dormant come from balances and ages; at_risk from the churn risk (`at_risk`, the model's
    verdict) or, for a model without a risk threshold, from P(alive); resurrected is a wallet that came back
    after a dormant-length silence, for `dormant_days` after its return."""
    if derived in ("exited", "dormant"):
        return derived  # type: ignore[return-value]
    if at_risk if at_risk is not None else p_alive < settings.labels.at_risk_p_alive:
        return "at_risk"
    returned = came_back_at(profile, settings)
    if returned is not None and now - returned < settings.labels.dormant_days * DAY:
        return "resurrected"
    return "active"


def label_due(
    profile: WalletProfile,
    holdings: list[Holding],
    state_name: str,
    settings: Settings,
) -> list[int | None]:
    """When the time-based labels and states can next change with no event."""
    labels = settings.labels
    due: list[int | None] = []
    if profile.last_active is not None:
        due.append(profile.last_active + labels.dormant_days * DAY)
    if profile.first_seen is not None:
        due.append(profile.first_seen + labels.new_holder_days * DAY + 1)
    due += [h.holding_since + labels.diamond_hands_days * DAY for h in holdings if h.holding_since is not None]
    returned = came_back_at(profile, settings)
    if state_name == "resurrected" and returned is not None:
        due.append(returned + labels.dormant_days * DAY)
    return due


def next_state(
    address: str,
    previous: WalletState | None,
    state_name: ChurnState,
    labels: list[str],
    p_alive: float,
    due: int | None,
    now: int,
    risk: churn.WalletRisk | None = None,
) -> WalletState:
    transitions = list(previous.transitions) if previous else []
    since = previous.churn_since if previous else now
    if previous is None or previous.churn_state != state_name:
        transitions.append(
            Transition(from_state=previous.churn_state if previous else "new", to_state=state_name, at=now)
        )
        since = now
    return WalletState(
        address=address,
        churn_state=state_name,
        churn_since=since,
        transitions=transitions[-MAX_TRANSITIONS:],
        labels=labels,
        p_alive=round(p_alive, 6),
        churn_risk=round(risk.risk, 6) if risk else None,
        churn_risk_percentile=round(risk.percentile, 2) if risk and risk.percentile is not None else None,
        churn_risk_horizon_days=risk.horizon_days if risk else None,
        churn_risk_due=risk.due if risk else None,
        due=due,
        evaluated_at=now,
    )


def due_wallets(now: int, settings: Settings, limit: int = 1000) -> list[str]:
    """Wallets whose due date has come, from the due index only (never a scan of all wallets)."""
    db = dynamo.client("dynamodb")
    found: list[str] = []
    for shard in range(keys.DUE_SHARDS):
        kwargs: dict[str, Any] = {
            "TableName": settings.app_table,
            "IndexName": keys.GSI3,
            "KeyConditionExpression": "gsi3pk = :p AND gsi3sk <= :now",
            "ExpressionAttributeValues": {
                ":p": {"S": keys.due_partition(shard)},
                ":now": {"S": keys.due_upper_bound(now)},
            },
        }
        while len(found) < limit:
            response = db.query(**kwargs)
            found += [i["pk"]["S"].removeprefix("WALLET#") for i in response["Items"]]
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return found[:limit]


def evaluated_at(inputs: WalletInputs) -> int:
    """When the stored state was derived (so a reference evaluation can use the same instant)."""
    return inputs.state.evaluated_at if inputs.state is not None else int(time.time())


def iter_profiles(settings: Settings) -> Iterator[WalletProfile]:
    """Every wallet profile, shard by shard through the score index (the nightly fit reads them all)."""
    db = dynamo.client("dynamodb")
    for shard in range(keys.SCORE_SHARDS):
        kwargs: dict[str, Any] = {
            "TableName": settings.app_table,
            "IndexName": keys.GSI1,
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": keys.score_partition(shard)}},
        }
        while True:
            response = db.query(**kwargs)
            for item in response["Items"]:
                yield WalletProfile.model_validate_json(item["doc"]["S"])
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def activity_rows(settings: Settings, now: int) -> list[churn.Row]:
    """(first_seen, active day numbers, now) of every wallet: what the churn model is fitted on."""
    return [
        (p.first_seen, [int(d) for d in p.active_days], now)
        for p in iter_profiles(settings)
        if p.first_seen is not None
    ]


def refit_churn_model(settings: Settings | None = None, now: int | None = None) -> churn.ChurnModel:
    """Fit MBG/NBD and its risk layer to every wallet's active days for the configured horizon
    (labels.churn_horizon_days), backtest the fit on the last horizon, and store both as the next version."""
    settings = settings or get_settings()
    now = now or int(time.time())
    rows = activity_rows(settings, now)
    previous = load_churn_model(settings)
    labels = settings.labels
    horizon, recent = labels.churn_horizon_days, labels.dormant_days
    model = churn.fit_churn(rows, horizon_days=horizon, recent_days=recent, version=previous.version + 1, fitted_at=now)
    backtest = nightly_backtest(rows, now, horizon, recent, labels.at_risk_p_alive)
    model = model.model_copy(update={"backtest": backtest})
    save_churn_model(model, settings)
    return model


def nightly_backtest(
    rows: list[churn.Row], now: int, horizon_days: int, recent_days: int, at_risk_p_alive: float = 0.5
) -> churn.ChurnBacktest | None:
    """The backtest at the latest cut whose window has fully happened: how the model would have done
    `horizon_days` ago. None when there is too little history or too few wallets to measure anything."""
    cut = (now // DAY - horizon_days) * DAY  # today is not over: the window ends at the last midnight
    try:
        return churn.backtest(rows, cut, horizon_days, recent_days=recent_days, at_risk_p_alive=at_risk_p_alive)
    except ValueError:
        return None


# ---- loyalty tiers ---------------------------------------------------------------------

TIER_CHANGED = "tier.changed"
# segment and tier events share one source, so triggered campaigns match them alike
EVENT_SOURCE = "kith.segments"


def apply_loyalty(
    state: WalletState, previous: WalletState | None, result: loyalty.Loyalty | None, settings: Settings
) -> tuple[str, str] | None:
    """Stamp the tier on the state; (old, new) when it moved. A wallet with no tier yet counts as the
    lowest tier, so a new wallet entering the entry tier is no event."""
    if result is None:
        return None
    state.tier, state.loyalty_points, state.loyalty_version = result.tier, result.points, result.version
    before = previous.tier if previous is not None and previous.tier else settings.loyalty.tiers[0].name
    return (before, result.tier) if before != result.tier else None


def publish_tier_change(address: str, before: str, after: str, state: WalletState, at: int, settings: Settings) -> None:
    """A tier change on the bus, like segment.entered/exited (same source), for triggered campaigns."""
    if not settings.event_bus_name:
        return
    detail = {
        "address": address,
        "from_tier": before,
        "to_tier": after,
        "points": state.loyalty_points,
        "formula_version": state.loyalty_version,
        "at": at,
    }
    publish(settings.event_bus_name, [BusEvent(EVENT_SOURCE, TIER_CHANGED, detail)], what=TIER_CHANGED)
