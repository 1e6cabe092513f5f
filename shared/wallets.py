"""Read models for wallets: the top-by-score listing, one wallet's view, and its timeline."""

from __future__ import annotations

import heapq
import time
from typing import Any

from pydantic import BaseModel, Field

from shared import churn, scoring
from shared.intel import load_churn_model, load_wallet
from shared.labels import churn_state, labels_for
from shared.profiles.model import Activity, Holding, WalletProfile
from shared.settings import Settings, get_settings
from shared.store import dynamo, keys


class WalletSummary(BaseModel):
    address: str
    score: float
    last_active: int | None
    first_seen: int | None
    chains: list[int]


class HoldingView(BaseModel):
    chain_id: int
    contract: str
    standard: str
    symbol: str | None
    decimals: int | None
    balance: str  # exact uint256, as a decimal string
    balance_adjusted: float
    token_ids: list[str]
    holding_since: int | None
    exited_at: int | None
    in_count: int
    out_count: int


class ScoreComponentView(BaseModel):
    component: str
    weight: float
    half_life_days: float
    value_now: float
    share: float


class WalletView(WalletSummary):
    labels: list[str]
    churn_state: str
    churn_since: int | None
    p_alive: float | None = Field(description="probability the wallet is still active (MBG/NBD), when evaluated")
    segments: list[str] = Field(description="ids of the segments the wallet is a member of")
    tags: list[str]
    score_formula_version: int
    score_explanation: list[ScoreComponentView]
    distinct_active_days: int
    transfers_in: int
    transfers_out: int
    votes: int
    last_vote: int | None
    liquidations: int
    holdings: list[HoldingView]


def summarize(profile: WalletProfile, now: int, settings: Settings) -> WalletSummary:
    return WalletSummary(
        address=profile.address,
        score=round(scoring.score_at(profile.score, now, settings.score), 6),
        last_active=profile.last_active,
        first_seen=profile.first_seen,
        chains=sorted(int(c) for c in profile.chains),
    )


def wallet_view(address: str, settings: Settings | None = None, now: int | None = None) -> WalletView | None:
    settings = settings or get_settings()
    now = now or int(time.time())
    inputs = load_wallet(address.lower(), settings)
    if inputs is None:
        return None
    profile, holdings, state = inputs.profile, inputs.holdings, inputs.state
    summary = summarize(profile, now, settings)
    explanation = [ScoreComponentView(**vars(c)) for c in scoring.explain(profile.score, now, settings.score)]
    return WalletView(
        **summary.model_dump(),
        # the segments function's derivation (with population labels such as whale and the churn model's
        # verdict) when it has run; the wallet-only derivation until then
        labels=state.labels if state else labels_for(profile, holdings, now, settings.labels),
        churn_state=state.churn_state if state else churn_state(profile, holdings, now, settings.labels),
        churn_since=state.churn_since if state else None,
        p_alive=_p_alive_now(profile, now, settings),
        segments=state.segments or [] if state else [],
        tags=sorted(inputs.tags),
        score_formula_version=profile.score.version,
        score_explanation=explanation,
        distinct_active_days=profile.distinct_active_days,
        transfers_in=profile.transfers_in,
        transfers_out=profile.transfers_out,
        votes=profile.votes,
        last_vote=profile.last_vote,
        liquidations=profile.liquidations,
        holdings=[_holding_view(h) for h in holdings],
    )


def _p_alive_now(profile: WalletProfile, now: int, settings: Settings) -> float | None:
    """P(alive) decays with silence, so it is evaluated at read time with the current churn model."""
    if profile.first_seen is None:
        return None
    model = load_churn_model(settings)
    p_alive, _ = churn.wallet_churn(model, profile.first_seen, [int(d) for d in profile.active_days], now)
    return round(p_alive, 6)


def _holding_view(holding: Holding) -> HoldingView:
    ids = holding.token_ids or [int(i) for i in holding.id_balances]
    return HoldingView(
        chain_id=holding.chain_id,
        contract=holding.contract,
        standard=str(holding.standard),
        symbol=holding.symbol,
        decimals=holding.decimals,
        balance=str(holding.balance),
        balance_adjusted=holding.adjusted_balance,
        token_ids=[str(i) for i in sorted(ids)],
        holding_since=holding.holding_since,
        exited_at=holding.exited_at,
        in_count=holding.in_count,
        out_count=holding.out_count,
    )


def top_by_score(
    limit: int, after: dict[str, Any] | None, settings: Settings | None = None
) -> tuple[list[WalletSummary], dict[str, Any] | None]:
    """Merge the score shards, highest first. `after` is the previous page's per-shard position.

    The index holds each wallet's score as of its last write; the page is re-scored at read time,
    so ties between wallets written at different times may order approximately.
    """
    settings = settings or get_settings()
    now = int(time.time())
    db = dynamo.client("dynamodb")
    positions: dict[str, Any] = dict(after or {})
    candidates: list[tuple[str, int, dict[str, Any]]] = []
    for shard in range(keys.SCORE_SHARDS):
        state = positions.get(str(shard))
        if state == "done":
            continue
        kwargs: dict[str, Any] = {
            "TableName": settings.app_table,
            "IndexName": keys.GSI1,
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": keys.score_partition(shard)}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if state:
            kwargs["ExclusiveStartKey"] = state
        for item in db.query(**kwargs)["Items"]:
            candidates.append((item["gsi1sk"]["S"], shard, item))
    chosen = heapq.nlargest(limit, candidates, key=lambda c: c[0])
    for _, shard, item in chosen:
        positions[str(shard)] = {k: item[k] for k in ("pk", "sk", "gsi1pk", "gsi1sk")}
    exhausted = len(chosen) < limit
    page = []
    for _, _, item in chosen:
        profile = WalletProfile.model_validate_json(item["doc"]["S"])
        page.append(summarize(profile, now, settings))
    page.sort(key=lambda w: -w.score)
    return page, (None if exhausted else positions)


def timeline(
    address: str, limit: int, after: dict[str, Any] | None, settings: Settings | None = None
) -> tuple[list[Activity], dict[str, Any] | None]:
    settings = settings or get_settings()
    kwargs: dict[str, Any] = {
        "TableName": settings.app_table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :act)",
        "ExpressionAttributeValues": {
            ":pk": {"S": keys.activity_pk(address)},
            ":act": {"S": keys.ACTIVITY_PREFIX},
        },
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if after:
        kwargs["ExclusiveStartKey"] = after
    response = dynamo.client("dynamodb").query(**kwargs)
    items = [Activity.model_validate_json(i["doc"]["S"]) for i in response["Items"]]
    return items, response.get("LastEvaluatedKey")
