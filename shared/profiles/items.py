"""How profiles, holdings and activities are stored: their items, the writes that put them, and
their readers. Documents are JSON in `doc`, because uint256 balances do not fit a DynamoDB Number;
the few attributes that indexes or filters need sit beside it."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from shared import scoring
from shared.profiles.model import Activity, Direction, Holding, WalletProfile, chain_order
from shared.settings import Settings
from shared.store import dynamo, keys, paging, transact
from shared.store.codec import DocCodec

PROFILE_CODEC = DocCodec(WalletProfile)
HOLDING_CODEC = DocCodec(Holding)
ACTIVITY_CODEC = DocCodec(Activity)

Document = WalletProfile | Holding
Changed = dict[tuple[str, str, Direction], Activity]
"""The activities one event adds or removes, by (wallet, event id, direction)."""


def codec_of(doc: Document) -> DocCodec[Any]:
    return PROFILE_CODEC if isinstance(doc, WalletProfile) else HOLDING_CODEC


def is_empty(doc: Document) -> bool:
    """Every event behind the document was rolled back: its item is deleted."""
    if isinstance(doc, WalletProfile):
        return not doc.active_days
    return doc.in_count == 0 and doc.out_count == 0


def timeline(table: str, wallet: str, changed: Changed, sign: int, since: int = 0) -> list[Activity]:
    """The wallet's activities (from `since` on) as they will be once this transaction commits."""
    stored = {(a.event_id, a.direction): a for a in iter_activities(table, wallet, since=since)}
    for (owner, event_id, direction), activity in changed.items():
        if owner != wallet or activity.block_time < since:
            continue
        if sign > 0:
            stored[(event_id, direction)] = activity
        else:
            stored.pop((event_id, direction), None)
    return sorted(stored.values(), key=chain_order)


def holding_timeline(
    table: str,
    wallet: str,
    holding: Holding,
    changed: Changed,
    sign: int,
    since: int = 0,
) -> list[Activity]:
    """The wallet's transfers of the holding's token (from `since` on), as they will be once this
    transaction commits."""
    return [
        a
        for a in timeline(table, wallet, changed, sign, since=since)
        if a.chain_id == holding.chain_id and a.contract == holding.contract and a.direction in ("in", "out")
    ]


def iter_activities(
    table: str, wallet: str, newest_first: bool = False, limit: int | None = None, since: int = 0
) -> Iterator[Activity]:
    start = keys.activity_key(wallet, since, "", "")[keys.SK].rstrip("#")
    items = paging.query_all(
        table,
        KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
        ExpressionAttributeValues={
            ":pk": {"S": keys.activity_pk(wallet)},
            ":from": {"S": start},
            ":to": {"S": keys.ACTIVITY_PREFIX + "~"},
        },
        ScanIndexForward=not newest_first,
    )
    for item in islice(items, limit):
        yield ACTIVITY_CODEC.decode(item)


def _guarded(table: str, item_key: dict[str, str], version: int, item: dict[str, Any] | None) -> dict[str, Any]:
    if item is None:
        return transact.versioned_delete(table, dynamo.to_item(item_key), version)
    return transact.versioned_put(table, item, version)


def profile_write(
    table: str, profile: WalletProfile, item_key: dict[str, str], version: int, settings: Settings, now: int
) -> dict[str, Any]:
    """The version-checked write of a profile read at `version`; its delete once it has no activity."""
    if is_empty(profile):
        return _guarded(table, item_key, version, None)
    rank = scoring.rank_key(profile.score, now, settings.score)
    item = PROFILE_CODEC.encode(
        {**item_key, **keys.score_gsi(profile.address, rank)},
        profile,
        address=profile.address,
        score_at_write=scoring.score_at(profile.score, now, settings.score),
        last_active=profile.last_active,
        first_seen=profile.first_seen,
        updated_at=now,
    )
    return _guarded(table, item_key, version, item)


def holding_write(table: str, wallet: str, holding: Holding, item_key: dict[str, str], version: int) -> dict[str, Any]:
    """The version-checked write of a holding read at `version`; its delete once it has no transfer."""
    if is_empty(holding):
        return _guarded(table, item_key, version, None)
    item = HOLDING_CODEC.encode(
        {**item_key, **keys.holders_gsi(holding.chain_id, holding.contract, max(holding.balance, 0))},
        holding,
        address=wallet,
        chain_id=holding.chain_id,
        contract=holding.contract,
        standard=str(holding.standard),
    )
    return _guarded(table, item_key, version, item)


def activity_write(table: str, wallet: str, activity: Activity, sign: int) -> dict[str, Any]:
    key = keys.activity_key(wallet, activity.block_time, activity.event_id, activity.direction)
    if sign > 0:
        return {"Put": {"TableName": table, "Item": ACTIVITY_CODEC.encode(key, activity)}}
    return {"Delete": {"TableName": table, "Key": dynamo.to_item(key)}}


def load_profile(address: str, settings: Settings) -> tuple[WalletProfile, list[Holding]] | None:
    response = dynamo.client("dynamodb").query(
        TableName=settings.app_table,
        KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
        ExpressionAttributeValues={
            ":pk": {"S": keys.wallet_pk(address)},
            ":a": {"S": keys.HOLDING_PREFIX},
            ":b": {"S": keys.PROFILE_SK},
        },
    )
    profile: WalletProfile | None = None
    holdings: list[Holding] = []
    for raw in response["Items"]:
        item = dynamo.from_item(raw)
        kind = keys.wallet_item_kind(item[keys.SK])
        if kind == "profile":
            profile = PROFILE_CODEC.decode_plain(item)
        elif kind == "holding":
            holdings.append(HOLDING_CODEC.decode_plain(item))
    return (profile, holdings) if profile else None
