"""Wallet profiles as a pure fold over chain events.

Everything here is free of DynamoDB and Lambda. The store applies events with the same functions,
and the property test compares it with `fold`, the reference over the final set of events.

Two kinds of fields:
- reversible ones (balances, units per token id, counts, volumes, active days, votes, lending sums, staked
  assets and shares, the score) take an event back exactly with sign=-1, in any order;
- order-dependent ones (holding since, each id's since, exited at, last in/out, first seen, last active, last vote,
  each stake's staked since and unstaked at) are recomputed by `replay` from the wallet's activities whenever an
  event arrives out of order or is rolled back. In order, `replay` of one more activity equals one incremental step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from shared import scoring
from shared.events import (
    STAKE_INCREASES,
    ZERO_ADDRESS,
    ChainEvent,
    LendingEvent,
    NftSale,
    StakeEvent,
    Standard,
    TokenTransfer,
    VoteCast,
)
from shared.profiles.stakes import StakePosition, apply_stake, stake_key, step_stake_times
from shared.profiles.trade_fold import NFT_STANDARDS, NftTrade, apply_to_trades
from shared.settings import ScoreSettings

DAY = 86_400
Direction = Literal["in", "out", "vote", "lending", "stake", "bought", "sold"]
Position = tuple[int, int, int, int]  # chain, block, log index, sub index


class Activity(BaseModel):
    """One wallet's side of one event: what the timeline shows and what `replay` folds."""

    event_id: str
    chain_id: int
    block_number: int
    log_index: int
    sub_index: int
    block_time: int
    tx_hash: str
    contract: str
    standard: Standard
    direction: Direction
    amount: int = 0
    token_id: int | None = None
    counterparty: str | None = None
    detail: str = ""  # lending action, vote support or stake action
    shares: int | None = None  # a vault's shares minted or burned

    @property
    def position(self) -> Position:
        return (self.chain_id, self.block_number, self.log_index, self.sub_index)


def chain_order(activity: Activity) -> tuple[Position, int]:
    """Chain order of activities; a self-transfer's two sides share a position, and the event applies
    the outgoing side first, so every replay must too (else a round trip hides its zero crossing)."""
    return activity.position, 0 if activity.direction == "out" else 1


class Holding(BaseModel):
    chain_id: int
    contract: str
    standard: Standard
    symbol: str | None = None
    decimals: int | None = None
    balance: int = 0
    # Token id -> units received minus units sent (an ERC-721 id counts 1 while held). A count, not a
    # set: adding and taking away commute, so any order of apply, rollback and redelivery that ends
    # with the same events ends with the same counts. A set does not: rolling back X->Y before Y->Z
    # would discard an id Y does not hold yet, then the second rollback would hand it back to Y.
    id_balances: dict[str, int] = Field(default_factory=dict)
    in_count: int = 0
    out_count: int = 0
    in_volume: int = 0
    out_volume: int = 0
    # order-dependent
    id_since: dict[str, int] = Field(default_factory=dict)  # held id -> when this holding run of it began
    # order-dependent
    first_in_time: int | None = None
    last_in_time: int | None = None
    last_out_time: int | None = None
    holding_since: int | None = None
    exited_at: int | None = None
    last_position: Position | None = None

    @model_validator(mode="before")
    @classmethod
    def _ids_from_a_list(cls, data: object) -> object:
        """Documents written before ids were counted carry `token_ids`, the ERC-721 ids held."""
        if isinstance(data, dict) and "token_ids" in data:
            data = dict(data)
            listed = data.pop("token_ids") or []
            if not data.get("id_balances"):
                data["id_balances"] = {str(token_id): 1 for token_id in listed}
        return data

    @property
    def token_ids(self) -> list[int]:
        """The ids this wallet holds now, sorted."""
        return sorted(int(token_id) for token_id, units in self.id_balances.items() if units > 0)

    def units_of(self, token_id: int) -> int:
        return max(self.id_balances.get(str(token_id), 0), 0)

    @property
    def adjusted_balance(self) -> float:
        return self.balance / 10 ** (self.decimals or 0) if self.standard == Standard.ERC20 else float(self.balance)


class LendingPosition(BaseModel):
    supplied: int = 0
    borrowed: int = 0
    liquidated_debt: int = 0
    liquidated_collateral: int = 0


class WalletProfile(BaseModel):
    address: str
    active_days: dict[str, int] = Field(default_factory=dict)  # unix day -> events that day
    chains: dict[str, int] = Field(default_factory=dict)  # chain id -> events
    transfers_in: int = 0
    transfers_out: int = 0
    votes: int = 0
    liquidations: int = 0
    lending: dict[str, LendingPosition] = Field(default_factory=dict)  # "<chain>:<pool>:<reserve>"
    staking: dict[str, StakePosition] = Field(default_factory=dict)  # "<chain>:<vault or staking contract>"
    score: scoring.ScoreState = Field(default_factory=scoring.ScoreState)
    nft_bought: int = 0  # units bought on a tracked market
    nft_sold: int = 0
    nft_trades: dict[str, NftTrade] = Field(default_factory=dict)  # "<chain>:<collection>:<token id>"
    # order-dependent
    first_seen: int | None = None
    last_active: int | None = None
    last_vote: int | None = None
    last_position: Position | None = None

    @property
    def distinct_active_days(self) -> int:
        return sum(1 for n in self.active_days.values() if n > 0)

    def staked_positions(self) -> list[StakePosition]:
        return [p for p in self.staking.values() if p.staked]

    @property
    def staked_since(self) -> int | None:
        """When the oldest stake the wallet still has began."""
        return min((p.staked_since for p in self.staked_positions() if p.staked_since is not None), default=None)

    @property
    def unstaked_at(self) -> int | None:
        """When the wallet last left its last stake; None while it stakes anywhere, or never staked."""
        if self.staked_positions():
            return None
        return max((p.unstaked_at for p in self.staking.values() if p.unstaked_at is not None), default=None)


def activities_of(event: ChainEvent) -> list[tuple[str, Activity]]:
    """The (wallet, activity) pairs one event creates. The zero address is no wallet."""
    base = {
        "event_id": event.event_id,
        "chain_id": event.chain_id,
        "block_number": event.block_number,
        "log_index": event.log_index,
        "sub_index": event.sub_index,
        "block_time": event.block_time,
        "tx_hash": event.tx_hash,
        "contract": event.contract,
        "standard": event.standard,
    }
    pairs: list[tuple[str, Activity]] = []
    if isinstance(event, TokenTransfer):
        common = {**base, "amount": event.amount, "token_id": event.token_id}
        if event.from_address != ZERO_ADDRESS:
            pairs.append((event.from_address, Activity(**common, direction="out", counterparty=event.to_address)))
        if event.to_address != ZERO_ADDRESS:
            pairs.append((event.to_address, Activity(**common, direction="in", counterparty=event.from_address)))
    elif isinstance(event, VoteCast):
        pairs.append((event.voter, Activity(**base, direction="vote", amount=event.weight, detail=str(event.support))))
    elif isinstance(event, LendingEvent) and event.action != "reserve_data_updated":
        pairs.append((event.user, Activity(**base, direction="lending", amount=event.amount, detail=event.action)))
    elif isinstance(event, StakeEvent) and event.owner != ZERO_ADDRESS:
        stake = Activity(**base, direction="stake", amount=event.assets, shares=event.shares, detail=event.action)
        pairs.append((event.owner, stake))
    elif isinstance(event, NftSale):
        common = {**base, "amount": event.price, "token_id": event.token_id, "detail": event.side}
        pairs.append((event.seller, Activity(**common, direction="sold", counterparty=event.buyer)))
        pairs.append((event.buyer, Activity(**common, direction="bought", counterparty=event.seller)))
    return pairs


def _score_component(activity: Activity, decimals: int | None) -> tuple[str, float]:
    if activity.direction == "vote":
        return "vote", 1.0
    if activity.direction in ("lending", "stake"):
        return "lending", activity.amount / 10**18
    if activity.standard in (Standard.ERC721, Standard.ERC1155):
        return "nft", float(activity.amount)
    component = "transfer_out" if activity.direction == "out" else "transfer_in"
    return component, activity.amount / 10 ** (decimals or 0)


def apply_to_profile(
    profile: WalletProfile, activity: Activity, event: ChainEvent, settings: ScoreSettings, sign: int
) -> None:
    """The reversible part of one activity, in place; sign=-1 takes it back exactly."""
    day = str(activity.block_time // DAY)
    profile.active_days[day] = profile.active_days.get(day, 0) + sign
    if profile.active_days[day] <= 0:
        del profile.active_days[day]
    chain = str(activity.chain_id)
    profile.chains[chain] = profile.chains.get(chain, 0) + sign
    if profile.chains[chain] <= 0:
        del profile.chains[chain]
    if activity.direction == "in":
        profile.transfers_in += sign
    elif activity.direction == "out":
        profile.transfers_out += sign
    elif activity.direction == "vote":
        profile.votes += sign
    elif isinstance(event, LendingEvent):
        _apply_lending(profile, event, sign)
    elif isinstance(event, StakeEvent):
        apply_stake(profile.staking, event, sign)
    apply_to_trades(profile, activity, event, sign)
    if isinstance(event, NftSale):
        return  # the NFT transfer the sale settles carries its share of the score
    decimals = event.decimals if isinstance(event, TokenTransfer) else None
    component, size = _score_component(activity, decimals)
    scoring.add(profile.score, component, size, activity.block_time, settings, sign)


def _apply_lending(profile: WalletProfile, event: LendingEvent, sign: int) -> None:
    key = f"{event.chain_id}:{event.contract}:{event.reserve}"
    position = profile.lending.setdefault(key, LendingPosition())
    if event.action == "supply":
        position.supplied += sign * event.amount
    elif event.action == "withdraw":
        position.supplied -= sign * event.amount
    elif event.action == "borrow":
        position.borrowed += sign * event.amount
    elif event.action == "repay":
        position.borrowed -= sign * event.amount
    elif event.action == "liquidation":
        position.borrowed -= sign * event.amount
        position.liquidated_debt += sign * event.amount
        profile.liquidations += sign
        if event.collateral_asset:
            collateral_key = f"{event.chain_id}:{event.contract}:{event.collateral_asset}"
            collateral = profile.lending.setdefault(collateral_key, LendingPosition())
            collateral.supplied -= sign * event.liquidated_collateral
            collateral.liquidated_collateral += sign * event.liquidated_collateral
    profile.lending = {k: v for k, v in profile.lending.items() if v != LendingPosition()}


def _stake_delta(activity: Activity) -> int:
    """How an activity moves its position's measure (StakePosition.measure)."""
    size = activity.shares if activity.standard == Standard.ERC4626_VAULT else activity.amount
    return (size or 0) if activity.detail in STAKE_INCREASES else -(size or 0)


def new_holding(event: TokenTransfer) -> Holding:
    return Holding(
        chain_id=event.chain_id,
        contract=event.contract,
        standard=event.standard,
        symbol=event.symbol,
        decimals=event.decimals,
    )


def apply_to_holding(holding: Holding, activity: Activity, sign: int) -> None:
    """The reversible part of a transfer on one holding, in place."""
    incoming = (activity.direction == "in") == (sign > 0)
    delta = activity.amount if incoming else -activity.amount
    holding.balance += delta
    if holding.standard in NFT_STANDARDS and activity.token_id is not None:
        key = str(activity.token_id)
        holding.id_balances[key] = holding.id_balances.get(key, 0) + delta
        if holding.id_balances[key] == 0:
            del holding.id_balances[key]
    if activity.direction == "in":
        holding.in_count += sign
        holding.in_volume += sign * activity.amount
    else:
        holding.out_count += sign
        holding.out_volume += sign * activity.amount


def step_holding_times(holding: Holding, activity: Activity, balance_before: int) -> None:
    """The order-dependent part of one transfer, applied in chain order (after its reversible part)."""
    t = activity.block_time
    if holding.standard in NFT_STANDARDS and activity.token_id is not None:
        key = str(activity.token_id)
        if holding.id_balances.get(key, 0) <= 0:
            holding.id_since.pop(key, None)
        else:
            holding.id_since.setdefault(key, t)
    if activity.direction == "in":
        holding.first_in_time = holding.first_in_time if holding.first_in_time is not None else t
        holding.last_in_time = t
    else:
        holding.last_out_time = t
    if balance_before <= 0 < holding.balance:
        holding.holding_since = t
        holding.exited_at = None
    elif balance_before > 0 >= holding.balance:
        holding.holding_since = None
        holding.exited_at = t
    holding.last_position = activity.position


def step_profile_times(profile: WalletProfile, activity: Activity) -> None:
    """The order-dependent part of one activity, in chain order, after its reversible part."""
    if activity.direction == "stake":
        position = profile.staking.get(stake_key(activity.chain_id, activity.contract))
        if position is not None:
            after = position.measure
            step_stake_times(position, activity.block_time, after - _stake_delta(activity), after)
    _step_profile_clock(profile, activity)


def _step_profile_clock(profile: WalletProfile, activity: Activity) -> None:
    t = activity.block_time
    profile.first_seen = t if profile.first_seen is None else min(profile.first_seen, t)
    profile.last_active = t if profile.last_active is None else max(profile.last_active, t)
    if activity.direction == "vote":
        profile.last_vote = t if profile.last_vote is None else max(profile.last_vote, t)
    if profile.last_position is None or activity.position > profile.last_position:
        profile.last_position = activity.position


def replay_holding_times(holding: Holding, activities: Iterable[Activity]) -> None:
    """Recompute the order-dependent fields of a holding from all of its activities, in chain order."""
    holding.first_in_time = holding.last_in_time = holding.last_out_time = None
    holding.holding_since = holding.exited_at = None
    holding.last_position = None
    holding.id_since = {}
    balance = 0
    units: dict[str, int] = {}
    saved_balance, saved_units = holding.balance, holding.id_balances
    for activity in sorted(activities, key=chain_order):
        before = balance
        balance += _delta(activity)
        if activity.token_id is not None:
            key = str(activity.token_id)
            units[key] = units.get(key, 0) + _delta(activity)
        holding.balance, holding.id_balances = balance, units
        step_holding_times(holding, activity, before)
    holding.balance, holding.id_balances = saved_balance, saved_units


def replay_profile_times(profile: WalletProfile, activities: Iterable[Activity]) -> None:
    """Recompute the order-dependent fields from all of the wallet's activities, in chain order."""
    profile.first_seen = profile.last_active = profile.last_vote = None
    profile.last_position = None
    for stake in profile.staking.values():
        stake.staked_since = stake.unstaked_at = None
    measures: dict[str, int] = {}  # each stake's measure as the replay reaches it
    for activity in activities:
        key = stake_key(activity.chain_id, activity.contract)
        replayed = profile.staking.get(key) if activity.direction == "stake" else None
        if replayed is not None:
            before = measures.get(key, 0)
            measures[key] = before + _stake_delta(activity)
            step_stake_times(replayed, activity.block_time, before, measures[key])
        _step_profile_clock(profile, activity)


@dataclass
class FoldResult:
    profiles: dict[str, WalletProfile] = field(default_factory=dict)
    holdings: dict[tuple[str, int, str], Holding] = field(default_factory=dict)


def fold(events: Iterable[ChainEvent], settings: ScoreSettings) -> FoldResult:
    """The reference: profiles and holdings computed from scratch over a set of events."""
    result = FoldResult()
    ordered = sorted(events, key=lambda e: (e.chain_id, e.block_number, e.log_index, e.sub_index))
    for event in ordered:
        for wallet, activity in activities_of(event):
            profile = result.profiles.setdefault(wallet, WalletProfile(address=wallet))
            apply_to_profile(profile, activity, event, settings, +1)
            step_profile_times(profile, activity)
            if isinstance(event, TokenTransfer):
                key = (wallet, event.chain_id, event.contract)
                holding = result.holdings.setdefault(key, new_holding(event))
                before = holding.balance
                apply_to_holding(holding, activity, +1)
                step_holding_times(holding, activity, before)
    return result


def _delta(activity: Activity) -> int:
    return activity.amount if activity.direction == "in" else -activity.amount


def replay_holding_window(holding: Holding, stored: Holding, window: list[Activity], window_start: int) -> bool:
    """Recompute holding_since / exited_at after an out-of-order arrival, from the activities at or after
    `window_start` only (the arrival's time). `holding` already carries the new balance; `stored` is the
    holding as it was. The state just before the window is read off `stored` when it can be: a holding
    run that began before the window and lasts until now, or an exit before the window with no run since.
    Returns False when that is not enough to know (a zero crossing hides inside the window); the caller
    then replays the holding's whole history.
    """
    if holding.standard in NFT_STANDARDS:
        return False  # when each id was taken needs every earlier move of it: replay it all
    balance = holding.balance - sum(_delta(a) for a in window)
    if balance > 0:
        if stored.holding_since is None or stored.holding_since >= window_start:
            return False
        since, exited = stored.holding_since, None
    else:
        # not holding before the window: its last exit must predate the window and no run may follow it
        if stored.holding_since is not None:
            return False
        if stored.exited_at is not None and stored.exited_at >= window_start:
            return False
        since, exited = None, stored.exited_at
    return _replay_window(holding, balance, since, exited, window)


def _replay_window(
    holding: Holding, balance: int, since: int | None, exited: int | None, window: list[Activity]
) -> bool:
    for activity in sorted(window, key=chain_order):
        before = balance
        balance += _delta(activity)
        if before <= 0 < balance:
            since, exited = activity.block_time, None
        elif before > 0 >= balance:
            since, exited = None, activity.block_time
        if activity.direction == "in":
            holding.first_in_time = (
                activity.block_time
                if holding.first_in_time is None
                else min(holding.first_in_time, activity.block_time)
            )
            holding.last_in_time = max(holding.last_in_time or activity.block_time, activity.block_time)
        else:
            holding.last_out_time = max(holding.last_out_time or activity.block_time, activity.block_time)
        if holding.last_position is None or activity.position > holding.last_position:
            holding.last_position = activity.position
    if balance != holding.balance:
        return False
    holding.holding_since, holding.exited_at = since, exited
    return True
