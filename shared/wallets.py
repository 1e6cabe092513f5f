"""Read models for wallets: the top-by-score listing, one wallet's view, and its timeline."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared import scoring
from shared.api.lending_view import LendingView, lending_view_of
from shared.contacts import Contact, load_contacts
from shared.intel import WalletOverview, WalletState, WalletSummary, load_wallet, overview, summarize
from shared.intel.codecs import WALLET_STATE_CODEC
from shared.profiles.items import ACTIVITY_CODEC, HOLDING_CODEC, PROFILE_CODEC
from shared.profiles.model import Activity, Holding, WalletProfile
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.paging import Page, query_page


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


class WalletView(WalletOverview):
    score_explanation: list[ScoreComponentView]
    holdings: list[HoldingView]
    contacts: list[Contact] = Field(description="off-chain identities linked to this wallet, with consent")
    lending: LendingView | None = Field(
        description="positions, health factors and bands, refinancing hints, alerts and the loyalty tier"
    )


def wallet_view(address: str, settings: Settings, now: int | None = None) -> WalletView | None:
    now = now or int(time.time())
    inputs = load_wallet(address.lower(), settings)
    if inputs is None:
        return None
    explanation = [ScoreComponentView(**vars(c)) for c in scoring.explain(inputs.profile.score, now, settings.score)]
    return WalletView(
        **overview(inputs, now, settings).model_dump(),
        score_explanation=explanation,
        holdings=[_holding_view(h) for h in inputs.holdings],
        contacts=load_contacts(inputs.contact_ids, settings) if inputs.contact_ids else [],
        lending=lending_view_of(inputs, settings, now),
    )


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
        ExpressionAttributeValues=dynamo.to_item({":pk": keys.activity_pk(address), ":act": keys.ACTIVITY_PREFIX}),
        ScanIndexForward=False,
    )
    return [ACTIVITY_CODEC.decode(i) for i in page.items], page.next_key


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

    def narrows(self) -> bool:
        return any(value is not None for value in self.model_dump().values())


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
    # unfiltered, every wallet read is kept, so reading more than the page wants only costs: a page of 20
    # reads at most 20 a shard, not _CHUNK (profiles are whole documents, and the API answers while the
    # pipeline writes)
    reads = _CHUNK if filters.narrows() else min(_CHUNK, max(1, limit))
    if sort == "balance":
        if filters.token is None:
            raise ValueError("sorting by balance needs a token")
        stream = _holder_stream(filters.token, after, reads, settings)
    else:
        stream = _score_stream(after, reads, settings)
    page: list[WalletSummary] = []
    examined = 0
    position: dict[str, Any] | None = after
    while len(page) < limit and examined < EXAMINE_BUDGET:
        chunk = list(itertools.islice(stream, min(reads, EXAMINE_BUDGET - examined)))
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
        plain = dynamo.from_item(item)
        address, kind = keys.wallet_of(plain[keys.PK]), keys.wallet_item_kind(plain[keys.SK])
        if kind == "profile":
            facts.profiles[address] = PROFILE_CODEC.decode_plain(plain)
        elif kind == "state":
            facts.states[address] = WALLET_STATE_CODEC.decode_plain(plain)
        elif kind == "holding":
            if HOLDING_CODEC.decode_plain(plain).balance > 0:
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
    after: dict[str, Any] | None, reads: int, settings: Settings
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
        page = _highest_first(keys.GSI1, keys.score_partition(shard), state, reads, settings)
        pending[shard] = list(page.items)
        next_start[shard] = page.next_key or "done"
        if pending[shard]:
            item = pending[shard].pop(0)
            heapq.heappush(heads, (_score_order(item), shard, item))

    for shard in range(keys.SCORE_SHARDS):
        refill(shard)
    while heads:
        _, shard, item = heapq.heappop(heads)
        positions[str(shard)] = {k: item[k] for k in ("pk", "sk", "gsi1pk", "gsi1sk")}
        if pending.get(shard):
            following = pending[shard].pop(0)
            heapq.heappush(heads, (_score_order(following), shard, following))
        elif next_start.get(shard) != "done":
            refill(shard)
        else:
            positions[str(shard)] = "done"
        profile = PROFILE_CODEC.decode(item)
        yield profile.address, profile, dict(positions)


def _score_order(item: dict[str, Any]) -> tuple[int, ...]:
    # heapq is a min-heap; the score key sorts as a string, so invert each character for "highest first"
    return tuple(-ord(c) for c in dynamo.from_item(item)["gsi1sk"])


def _holder_stream(
    token: tuple[int, str], after: dict[str, Any] | None, reads: int, settings: Settings
) -> Iterator[tuple[str, WalletProfile | None, dict[str, Any]]]:
    """Holders of one token, largest balance first (A7), a page of `reads` at a time."""
    start = (after or {}).get("h")
    while start != "done":
        page = _highest_first(keys.GSI2, keys.holders_partition(*token), start, reads, settings)
        for item in page.items:
            position = {k: item[k] for k in ("pk", "sk", "gsi2pk", "gsi2sk")}
            yield keys.wallet_of(dynamo.from_item(item)[keys.PK]), None, {"h": position}
        start = page.next_key or "done"


def _highest_first(index: str, partition: str, start: dict[str, Any] | None, reads: int, settings: Settings) -> Page:
    """Up to `reads` items of one partition of an index, highest sort key first, from `start` on."""
    return query_page(
        settings.app_table,
        limit=reads,
        start=start or None,
        IndexName=index,
        KeyConditionExpression=f"{index}pk = :p",
        ExpressionAttributeValues=dynamo.to_item({":p": partition}),
        ScanIndexForward=False,
    )
