"""Read models for wallets: the top-by-score listing, one wallet's view, and its timeline."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared import churn, scoring
from shared.api.lending_view import LendingView, lending_view_of
from shared.contacts import Contact, load_contacts
from shared.intel import WalletState, load_churn_model, load_wallet
from shared.labels import churn_state, labels_for
from shared.profiles.model import Activity, Holding, WalletProfile
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.paging import query_all, query_page


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
    churn_risk: float | None = Field(
        description="probability of no activity in the next churn_risk_horizon_days days (GET /churn/model)",
    )
    churn_risk_percentile: float | None = Field(
        description="percentile (0-100) of churn_risk among the wallets of the latest fit"
    )
    churn_risk_horizon_days: float | None = Field(description="H of churn_risk")
    churn_risk_due: int | None = Field(description="unix second from which the wallet is at risk if it stays silent")
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
    contacts: list[Contact] = Field(description="off-chain identities linked to this wallet, with consent")
    lending: LendingView | None = Field(
        description="positions, health factors and bands, refinancing hints, alerts and the loyalty tier"
    )


def summarize(profile: WalletProfile, now: int, settings: Settings) -> WalletSummary:
    return WalletSummary(
        address=profile.address,
        score=round(scoring.score_at(profile.score, now, settings.score), 6),
        last_active=profile.last_active,
        first_seen=profile.first_seen,
        chains=sorted(int(c) for c in profile.chains),
    )


def wallet_view(address: str, settings: Settings, now: int | None = None) -> WalletView | None:
    now = now or int(time.time())
    inputs = load_wallet(address.lower(), settings)
    if inputs is None:
        return None
    profile, holdings, state = inputs.profile, inputs.holdings, inputs.state
    summary = summarize(profile, now, settings)
    explanation = [ScoreComponentView(**vars(c)) for c in scoring.explain(profile.score, now, settings.score)]
    p_alive, risk = _churn_now(profile, now, settings)
    return WalletView(
        **summary.model_dump(),
        # the segments function's derivation (with population labels such as whale and the churn model's
        # verdict) when it has run; the wallet-only derivation until then
        labels=state.labels if state else labels_for(profile, holdings, now, settings.labels),
        churn_state=state.churn_state if state else churn_state(profile, holdings, now, settings.labels),
        churn_since=state.churn_since if state else None,
        p_alive=p_alive,
        churn_risk=round(risk.risk, 6) if risk else None,
        churn_risk_percentile=round(risk.percentile, 2) if risk and risk.percentile is not None else None,
        churn_risk_horizon_days=risk.horizon_days if risk else None,
        churn_risk_due=risk.due if risk else None,
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
        contacts=load_contacts(inputs.contact_ids, settings) if inputs.contact_ids else [],
        lending=lending_view_of(inputs, settings, now),
    )


def _churn_now(profile: WalletProfile, now: int, settings: Settings) -> tuple[float | None, churn.WalletRisk | None]:
    """P(alive) decays and the churn risk grows with silence, so both are evaluated at read time with the
    current churn model."""
    if profile.first_seen is None:
        return None, None
    model = load_churn_model(settings)
    days = [int(d) for d in profile.active_days]
    p_alive, _ = churn.wallet_churn(model, profile.first_seen, days, now)
    return round(p_alive, 6), churn.wallet_risk(model, profile.first_seen, days, now)


def _holding_view(holding: Holding) -> HoldingView:
    return HoldingView(
        chain_id=holding.chain_id,
        contract=holding.contract,
        standard=str(holding.standard),
        symbol=holding.symbol,
        decimals=holding.decimals,
        balance=str(holding.balance),
        balance_adjusted=holding.adjusted_balance,
        token_ids=[str(i) for i in holding.token_ids],
        holding_since=holding.holding_since,
        exited_at=holding.exited_at,
        in_count=holding.in_count,
        out_count=holding.out_count,
    )


def timeline(
    address: str, limit: int, after: dict[str, Any] | None, settings: Settings
) -> tuple[list[Activity], dict[str, Any] | None]:
    page = query_page(
        settings.app_table,
        limit=limit,
        start=after,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :act)",
        ExpressionAttributeValues={
            ":pk": {"S": keys.activity_pk(address)},
            ":act": {"S": keys.ACTIVITY_PREFIX},
        },
        ScanIndexForward=False,
    )
    return [Activity.model_validate_json(i["doc"]["S"]) for i in page.items], page.next_key


# ---- filtered listing ----------------------------------------------------------------------------

WalletSort = Literal["score", "balance"]
# A selective filter may need to look far down the ranking; one request examines at most this many
# wallets and hands back a cursor, so its cost stays bounded and the client keeps paging.
EXAMINE_BUDGET = 1000
_CHUNK = 100


class WalletFilter(BaseModel):
    min_score: float | None = None
    max_score: float | None = None
    label: str | None = None
    churn_state: str | None = None
    chain_id: int | None = None
    token: tuple[int, str] | None = None
    tag: str | None = None

    def needs_state(self) -> bool:
        return self.label is not None or self.churn_state is not None


def search_wallets(
    filters: WalletFilter,
    sort: WalletSort,
    limit: int,
    after: dict[str, Any] | None,
    settings: Settings,
) -> tuple[list[WalletSummary], dict[str, Any] | None]:
    """Wallets in score order (or by balance of one token), filtered; the page may be short when the
    filters are selective, and `None` as the next position means the listing is exhausted."""
    now = int(time.time())
    if sort == "balance":
        if filters.token is None:
            raise ValueError("sorting by balance needs a token")
        stream = _holder_stream(filters.token, after, settings)
    else:
        stream = _score_stream(after, settings)
    page: list[WalletSummary] = []
    examined = 0
    position: dict[str, Any] | None = after
    while len(page) < limit and examined < EXAMINE_BUDGET:
        chunk = list(itertools.islice(stream, min(_CHUNK, EXAMINE_BUDGET - examined)))
        if not chunk:
            return page, None
        examined += len(chunk)
        facts = _facts_for([address for address, _, _ in chunk], filters, sort, settings)
        for address, profile_doc, chunk_position in chunk:
            position = chunk_position
            profile = profile_doc or facts.profiles.get(address)
            if profile is None:
                continue
            summary = summarize(profile, now, settings)
            if _keep(summary, profile, filters, facts):
                page.append(summary)
                if len(page) == limit:
                    break
    return page, position


@dataclass
class _Facts:
    profiles: dict[str, WalletProfile] = field(default_factory=dict)
    states: dict[str, WalletState] = field(default_factory=dict)
    holders: set[str] = field(default_factory=set)
    tagged: set[str] = field(default_factory=set)


def _facts_for(addresses: list[str], filters: WalletFilter, sort: WalletSort, settings: Settings) -> _Facts:
    """One batched read for everything the filters need about this chunk of wallets."""
    wanted: list[dict[str, str]] = []
    for address in addresses:
        if sort == "balance":
            wanted.append(keys.profile_key(address))
        if filters.needs_state():
            wanted.append(keys.wallet_state_key(address))
        if filters.token is not None and sort != "balance":
            wanted.append(keys.holding_key(address, *filters.token))
        if filters.tag is not None:
            wanted.append(keys.tag_key(address, filters.tag))
    facts = _Facts()
    for item in dynamo.batch_get(settings.app_table, [dynamo.to_item(k) for k in wanted], consistent=False):
        address, kind = keys.wallet_of(item["pk"]["S"]), keys.wallet_item_kind(item["sk"]["S"])
        if kind == "profile":
            facts.profiles[address] = WalletProfile.model_validate_json(item["doc"]["S"])
        elif kind == "state":
            facts.states[address] = WalletState.model_validate_json(item["doc"]["S"])
        elif kind == "holding":
            if Holding.model_validate_json(item["doc"]["S"]).balance > 0:
                facts.holders.add(address)
        elif kind == "tag":
            facts.tagged.add(address)
    if sort == "balance":
        facts.holders.update(addresses)
    return facts


def _keep(summary: WalletSummary, profile: WalletProfile, filters: WalletFilter, facts: _Facts) -> bool:
    if filters.min_score is not None and summary.score < filters.min_score:
        return False
    if filters.max_score is not None and summary.score > filters.max_score:
        return False
    if filters.chain_id is not None and filters.chain_id not in summary.chains:
        return False
    if filters.token is not None and profile.address not in facts.holders:
        return False
    if filters.tag is not None and profile.address not in facts.tagged:
        return False
    if filters.needs_state():
        # labels and churn states as the segments function last derived them
        state = facts.states.get(profile.address)
        labels = state.labels if state else []
        if filters.label is not None and filters.label not in labels:
            return False
        if filters.churn_state is not None and (state.churn_state if state else "active") != filters.churn_state:
            return False
    return True


def _score_stream(
    after: dict[str, Any] | None, settings: Settings
) -> Iterator[tuple[str, WalletProfile | None, dict[str, Any]]]:
    """Every wallet, highest stored score first: a lazy merge of the score shards. Each item carries
    the per-shard positions just past it, so a page can end anywhere."""
    positions: dict[str, Any] = dict(after or {})
    heads: list[tuple[tuple[int, ...], int, dict[str, Any]]] = []
    pending: dict[int, list[dict[str, Any]]] = {}
    next_start: dict[int, Any] = {}

    def refill(shard: int) -> None:
        state = positions.get(str(shard)) if shard not in next_start else next_start[shard]
        if state == "done":
            return
        page = query_page(
            settings.app_table,
            limit=_CHUNK,
            start=state or None,
            IndexName=keys.GSI1,
            KeyConditionExpression="gsi1pk = :p",
            ExpressionAttributeValues={":p": {"S": keys.score_partition(shard)}},
            ScanIndexForward=False,
        )
        pending[shard] = list(page.items)
        next_start[shard] = page.next_key or "done"
        if pending[shard]:
            item = pending[shard].pop(0)
            heapq.heappush(heads, (_negated(item["gsi1sk"]["S"]), shard, item))

    for shard in range(keys.SCORE_SHARDS):
        refill(shard)
    while heads:
        _, shard, item = heapq.heappop(heads)
        positions[str(shard)] = {k: item[k] for k in ("pk", "sk", "gsi1pk", "gsi1sk")}
        if pending.get(shard):
            following = pending[shard].pop(0)
            heapq.heappush(heads, (_negated(following["gsi1sk"]["S"]), shard, following))
        elif next_start.get(shard) != "done":
            refill(shard)
        else:
            positions[str(shard)] = "done"
        profile = WalletProfile.model_validate_json(item["doc"]["S"])
        yield profile.address, profile, dict(positions)


def _negated(sort_key: str) -> tuple[int, ...]:
    # heapq is a min-heap; the score key sorts as a string, so invert each character for "highest first"
    return tuple(-ord(c) for c in sort_key)


def _holder_stream(
    token: tuple[int, str], after: dict[str, Any] | None, settings: Settings
) -> Iterator[tuple[str, WalletProfile | None, dict[str, Any]]]:
    """Holders of one token, largest balance first (A7)."""
    start = (after or {}).get("h")
    query: dict[str, Any] = {
        "IndexName": keys.GSI2,
        "KeyConditionExpression": "gsi2pk = :p",
        "ExpressionAttributeValues": {":p": {"S": keys.holders_partition(*token)}},
        "ScanIndexForward": False,
        "Limit": _CHUNK,
    }
    if start:
        query["ExclusiveStartKey"] = start
    for item in query_all(settings.app_table, **query):
        position = {k: item[k] for k in ("pk", "sk", "gsi2pk", "gsi2sk")}
        yield keys.wallet_of(item["pk"]["S"]), None, {"h": position}
