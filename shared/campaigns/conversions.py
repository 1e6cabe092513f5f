"""Conversions: the profiles function credits each campaign's declared on-chain action, within its
window, to recipients and holdout wallets alike; a rolled-back event takes its credit back.

The work is skipped outright (a cached Query while the blocks are older than it) while no campaign
declares a conversion.
A credit is a conditional put of CONV# plus the arm's counter, in one transaction: exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from botocore.exceptions import ClientError

from shared.campaigns import store
from shared.campaigns.model import ConversionGoal
from shared.events import ZERO_ADDRESS, ChainEvent, LendingEvent, TokenTransfer, VoteCast
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.keys.inverses import converted_campaign_of
from shared.store.paging import query_items
from shared.store.transact import cancellation_reasons

# The open campaigns are cached, so a batch of old blocks (a catch-up) costs no Query. A campaign
# missing from the cache was created after the fetch, and its windows open at its send, later still:
# so the cache answers only for events older than the fetch, less a margin for the index's lag.
_OPEN_CACHE_SECONDS = 15.0
_INDEX_LAG_SECONDS = 30


@dataclass(frozen=True)
class _OpenCampaigns:
    table: str
    ids: list[str]
    fetched_monotonic: float
    fetched_epoch: int

    def answers_for(self, table: str, newest_block_time: int) -> bool:
        fresh = time.monotonic() - self.fetched_monotonic <= _OPEN_CACHE_SECONDS
        return table == self.table and fresh and newest_block_time < self.fetched_epoch - _INDEX_LAG_SECONDS


_open_cache: _OpenCampaigns | None = None


@dataclass(frozen=True)
class _Window:
    """A wallet's open conversion window for one campaign (its ATTRIB# item)."""

    campaign_id: str
    occurrence: str
    arm: str
    starts_at: int
    ends_at: int
    goal: ConversionGoal

    def counts(self, event: ChainEvent, action: str) -> bool:
        return self.starts_at <= event.block_time <= self.ends_at and goal_met(self.goal, event, action)


def wallet_actions(event: ChainEvent) -> list[tuple[str, str]]:
    """(wallet, action) pairs an event stands for."""
    if isinstance(event, TokenTransfer):
        pairs = []
        if event.to_address != ZERO_ADDRESS:
            pairs.append((event.to_address, "transfer_in"))
        if event.from_address != ZERO_ADDRESS:
            pairs.append((event.from_address, "transfer_out"))
        return pairs
    if isinstance(event, VoteCast):
        return [(event.voter, "vote")]
    if isinstance(event, LendingEvent) and event.action in ("supply", "withdraw", "borrow", "repay"):
        return [(event.user, "lending")]
    return []


def goal_met(goal: ConversionGoal, event: ChainEvent, action: str) -> bool:
    if goal.chain_id is not None and goal.chain_id != event.chain_id:
        return False
    if goal.contract is not None and goal.contract != event.contract:
        return False
    if goal.action == "any_transfer":
        return action in ("transfer_in", "transfer_out")
    if goal.action != action:
        return False
    return goal.lending_action is None or (isinstance(event, LendingEvent) and event.action == goal.lending_action)


def _open_campaigns(settings: Settings, newest_block_time: int) -> list[str]:
    global _open_cache
    cached = _open_cache
    if cached is not None and cached.answers_for(settings.app_table, newest_block_time):
        return cached.ids
    fetched_monotonic, fetched_epoch = time.monotonic(), int(time.time())
    ids = store.converting_campaigns(settings)
    _open_cache = _OpenCampaigns(settings.app_table, ids, fetched_monotonic, fetched_epoch)
    return ids


def credit_changes(changes: Iterable[tuple[ChainEvent | None, ChainEvent | None]], settings: Settings) -> int:
    """Credit inserted events, take back rolled-back ones; returns the net number of credits made."""
    inserted: list[ChainEvent] = []
    removed: list[ChainEvent] = []
    for old, new in changes:
        if new is not None and old is None:
            inserted.append(new)
        elif old is not None and new is None:
            removed.append(old)
    if not inserted and not removed:
        return 0
    campaign_ids = _open_campaigns(settings, max(event.block_time for event in [*inserted, *removed]))
    if not campaign_ids:
        return 0
    net = 0
    by_wallet: dict[str, list[tuple[ChainEvent, str]]] = {}
    for event in inserted:
        for wallet, action in wallet_actions(event):
            by_wallet.setdefault(wallet, []).append((event, action))
    windows = _windows(list(by_wallet), campaign_ids, settings)
    for wallet, happenings in by_wallet.items():
        for window in windows.get(wallet, []):
            for event, action in sorted(happenings, key=lambda h: h[0].block_time):
                if window.counts(event, action):
                    net += _credit(wallet, window, event, settings)
                    break
    for event in removed:
        net -= _take_back(event, settings)
    return net


def _windows(wallets: list[str], campaign_ids: list[str], settings: Settings) -> dict[str, list[_Window]]:
    """The open conversion windows of these wallets, by key: 100 (wallet, campaign) pairs a request."""
    wanted = [dynamo.to_item(keys.attribution_key(w, c)) for w in wallets for c in campaign_ids]
    windows: dict[str, list[_Window]] = {}
    for item in map(dynamo.from_item, dynamo.batch_get(settings.app_table, wanted)):
        windows.setdefault(keys.attribution_wallet_of(item["pk"]), []).append(
            _Window(
                campaign_id=item["sk"],
                occurrence=item["occurrence"],
                arm=item["arm"],
                starts_at=item["starts_at"],
                ends_at=item["ends_at"],
                goal=store.GOAL_CODEC.decode_plain(item),
            )
        )
    return windows


def _credit(wallet: str, window: _Window, event: ChainEvent, settings: Settings) -> int:
    key = keys.conversion_key(window.campaign_id, wallet, window.occurrence)
    earned_by = keys.converted_by_gsi(event.event_id, window.campaign_id, wallet, window.occurrence)
    try:
        dynamo.client("dynamodb").transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": settings.app_table,
                        "Item": dynamo.to_item(
                            {
                                **key,
                                "event_id": event.event_id,
                                "arm": window.arm,
                                "converted_at": event.block_time,
                                **earned_by,
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                store.add_counters(window.campaign_id, {store.counter(window.arm, "converted"): 1}, settings),
            ]
        )
    except ClientError as exc:
        if cancellation_reasons(exc) is None:
            raise
        return 0  # credited before: by this event on a redelivery, or by an earlier action
    return 1


def _take_back(event: ChainEvent, settings: Settings) -> int:
    """A reorg removed the event: the conversions it earned are withdrawn (the wallet may earn them again)."""
    items = query_items(
        settings.app_table,
        IndexName=keys.GSI1,
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.converted_by_partition(event.event_id)}},
    )
    taken = 0
    for item in items:
        campaign_id = converted_campaign_of(item["gsi1sk"])
        try:
            dynamo.client("dynamodb").transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": settings.app_table,
                            "Key": dynamo.to_item({keys.PK: item[keys.PK], keys.SK: item[keys.SK]}),
                            "ConditionExpression": "event_id = :e",
                            "ExpressionAttributeValues": {":e": {"S": event.event_id}},
                        }
                    },
                    store.add_counters(campaign_id, {store.counter(item["arm"], "converted"): -1}, settings),
                ]
            )
            taken += 1
        except ClientError as exc:
            if cancellation_reasons(exc) is None:
                raise
    return taken
