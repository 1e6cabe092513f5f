"""Applying chain events to stored profiles exactly once.

One event is one DynamoDB transaction: the APPLIED marker (created on apply, deleted on rollback,
each conditional), every touched profile and holding (optimistic version check), and the wallets'
activity items. A redelivered, bisected or replayed stream record therefore changes nothing twice,
and two writers on one wallet cannot lose each other's update.

Documents are stored as JSON in `doc`, because uint256 balances do not fit a DynamoDB Number;
the few attributes that indexes or filters need sit beside it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from shared import scoring
from shared.events import ChainEvent, TokenTransfer
from shared.profiles.model import (
    Activity,
    Direction,
    Holding,
    WalletProfile,
    activities_of,
    apply_to_holding,
    apply_to_profile,
    new_holding,
    replay_holding_times,
    replay_profile_times,
    step_holding_times,
    step_profile_times,
)
from shared.settings import Settings, get_settings
from shared.store import dynamo, keys

MAX_CONFLICT_RETRIES = 8


class ApplyConflict(RuntimeError):
    """Another writer kept changing the same wallet; the stream will redeliver the record."""


@dataclass
class _Loaded:
    item_key: dict[str, str]
    version: int  # 0 = the item does not exist yet


@dataclass
class _Touched:
    profiles: dict[str, tuple[WalletProfile, _Loaded]] = field(default_factory=dict)
    holdings: dict[tuple[str, int, str], tuple[Holding, _Loaded]] = field(default_factory=dict)


def apply_change(old: ChainEvent | None, new: ChainEvent | None, settings: Settings | None = None) -> None:
    """Apply one stream record: INSERT (new only), REMOVE = rollback (old only), or MODIFY (both)."""
    settings = settings or get_settings()
    if old is not None and new is not None and old == new:
        return  # an identical re-put (moto emits MODIFY for it; DynamoDB emits nothing)
    if old is not None:
        apply_event(old, -1, settings)
    if new is not None:
        apply_event(new, +1, settings)


def apply_event(event: ChainEvent, sign: int, settings: Settings) -> bool:
    """Apply (sign=+1) or roll back (sign=-1) one event. Returns False when it was already so."""
    for _ in range(MAX_CONFLICT_RETRIES):
        try:
            return _apply_once(event, sign, settings)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed" and reasons.count("ConditionalCheckFailed") == 1:
                return False  # only the marker's condition failed: a concurrent delivery did the work
            time.sleep(0.05)
    raise ApplyConflict(f"event {event.event_id}: wallets kept changing under {MAX_CONFLICT_RETRIES} attempts")


def _apply_once(event: ChainEvent, sign: int, settings: Settings) -> bool:
    table = settings.app_table
    db = dynamo.client("dynamodb")
    marker_key = keys.applied_key(event.event_id)
    marker = db.get_item(TableName=table, Key=dynamo.to_item(marker_key), ConsistentRead=True).get("Item")
    marker_hash = dynamo.from_item(marker).get("block_hash") if marker else None
    if sign > 0 and marker is not None:
        return False
    if sign < 0 and marker_hash != event.block_hash:
        return False

    pairs = activities_of(event)
    touched = _load(pairs, event, table)
    held_before = {hkey: holding.balance > 0 for hkey, (holding, _) in touched.holdings.items()}
    replay_profiles: set[str] = set()
    replay_holdings: set[tuple[str, int, str]] = set()
    for wallet, activity in pairs:
        profile, _ = touched.profiles[wallet]
        apply_to_profile(profile, activity, event, settings.score, sign)
        if sign > 0:
            step_profile_times(profile, activity)
        else:
            replay_profiles.add(wallet)
        if isinstance(event, TokenTransfer):
            hkey = (wallet, event.chain_id, event.contract)
            holding, _ = touched.holdings[hkey]
            before = holding.balance
            apply_to_holding(holding, activity, sign)
            in_order = holding.last_position is None or activity.position > holding.last_position
            if sign > 0 and in_order and hkey not in replay_holdings:
                step_holding_times(holding, activity, before)
            else:
                replay_holdings.add(hkey)

    changed_activities = {(w, a.event_id, a.direction): a for w, a in pairs}
    for wallet in replay_profiles:
        profile, _ = touched.profiles[wallet]
        replay_profile_times(profile, _activities(table, wallet, changed_activities, sign))
    for wallet, chain_id, contract in replay_holdings:
        holding, _ = touched.holdings[(wallet, chain_id, contract)]
        related = [
            a
            for a in _activities(table, wallet, changed_activities, sign)
            if a.chain_id == chain_id and a.contract == contract and a.direction in ("in", "out")
        ]
        replay_holding_times(holding, related)

    now = int(time.time())
    writes: list[dict[str, Any]] = [_marker_write(table, marker_key, event, sign)]
    for profile, loaded in touched.profiles.values():
        writes.append(_profile_write(table, profile, loaded, settings, now))
    for (_wallet, _chain, _contract), (holding, loaded) in touched.holdings.items():
        writes.append(_holding_write(table, _wallet, holding, loaded))
    holder_delta = sum(int(h.balance > 0) - int(held_before[k]) for k, (h, _) in touched.holdings.items())
    if holder_delta and isinstance(event, TokenTransfer):
        writes.append(_holder_count_write(table, event, holder_delta))
    for wallet, activity in pairs:
        akey = dynamo.to_item(keys.activity_key(wallet, activity.block_time, activity.event_id, activity.direction))
        if sign > 0:
            item = {**akey, "doc": {"S": activity.model_dump_json()}}
            writes.append({"Put": {"TableName": table, "Item": item}})
        else:
            writes.append({"Delete": {"TableName": table, "Key": akey}})
    db.transact_write_items(TransactItems=writes)
    return True


def _load(pairs: list[tuple[str, Activity]], event: ChainEvent, table: str) -> _Touched:
    touched = _Touched()
    wanted: dict[str, dict[str, str]] = {}
    for wallet, _ in pairs:
        wanted[f"p:{wallet}"] = keys.profile_key(wallet)
        if isinstance(event, TokenTransfer):
            wanted[f"h:{wallet}"] = keys.holding_key(wallet, event.chain_id, event.contract)
    found = _batch_get(table, list(wanted.values()))
    for wallet, _ in pairs:
        pkey = keys.profile_key(wallet)
        doc = found.get((pkey[keys.PK], pkey[keys.SK]))
        profile = WalletProfile.model_validate_json(doc["doc"]) if doc else WalletProfile(address=wallet)
        touched.profiles[wallet] = (profile, _Loaded(pkey, int(doc["v"]) if doc else 0))
        if isinstance(event, TokenTransfer):
            hkey = keys.holding_key(wallet, event.chain_id, event.contract)
            doc = found.get((hkey[keys.PK], hkey[keys.SK]))
            holding = Holding.model_validate_json(doc["doc"]) if doc else new_holding(event)
            touched.holdings[(wallet, event.chain_id, event.contract)] = (
                holding,
                _Loaded(hkey, int(doc["v"]) if doc else 0),
            )
    return touched


def _batch_get(table: str, item_keys: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    unique = {(k[keys.PK], k[keys.SK]): k for k in item_keys}
    pending: dict[str, Any] = {table: {"Keys": [dynamo.to_item(k) for k in unique.values()], "ConsistentRead": True}}
    db = dynamo.client("dynamodb")
    for attempt in range(8):
        response = db.batch_get_item(RequestItems=pending)
        for raw in response["Responses"].get(table, []):
            item = dynamo.from_item(raw)
            found[(item[keys.PK], item[keys.SK])] = item
        pending = response.get("UnprocessedKeys") or {}
        if not pending:
            return found
        time.sleep(0.05 * 2**attempt)
    raise RuntimeError(f"BatchGetItem on {table} left keys unprocessed after 8 attempts")


def _activities(
    table: str, wallet: str, changed: dict[tuple[str, str, Direction], Activity], sign: int
) -> list[Activity]:
    """The wallet's activities as they will be once this transaction commits."""
    stored = {(a.event_id, a.direction): a for a in iter_activities(table, wallet)}
    for (owner, event_id, direction), activity in changed.items():
        if owner != wallet:
            continue
        if sign > 0:
            stored[(event_id, direction)] = activity
        else:
            stored.pop((event_id, direction), None)
    return sorted(stored.values(), key=lambda a: a.position)


def iter_activities(
    table: str, wallet: str, newest_first: bool = False, limit: int | None = None
) -> Iterator[Activity]:
    db = dynamo.client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :act)",
        "ExpressionAttributeValues": {":pk": {"S": keys.wallet_pk(wallet)}, ":act": {"S": keys.ACTIVITY_PREFIX}},
        "ScanIndexForward": not newest_first,
    }
    yielded = 0
    while True:
        response = db.query(**kwargs)
        for item in response["Items"]:
            yield Activity.model_validate_json(item["doc"]["S"])
            yielded += 1
            if limit is not None and yielded >= limit:
                return
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _version_condition(loaded: _Loaded) -> tuple[str, dict[str, Any]]:
    if loaded.version == 0:
        return "attribute_not_exists(pk)", {}
    return "v = :v", {":v": {"N": str(loaded.version)}}


def _guarded(table: str, loaded: _Loaded, item: dict[str, Any] | None) -> dict[str, Any]:
    condition, values = _version_condition(loaded)
    if item is None:
        op: dict[str, Any] = {
            "TableName": table,
            "Key": dynamo.to_item(loaded.item_key),
            "ConditionExpression": condition,
        }
        if values:
            op["ExpressionAttributeValues"] = values
        return {"Delete": op}
    op = {"TableName": table, "Item": item, "ConditionExpression": condition}
    if values:
        op["ExpressionAttributeValues"] = values
    return {"Put": op}


def _profile_write(table: str, profile: WalletProfile, loaded: _Loaded, settings: Settings, now: int) -> dict[str, Any]:
    if not profile.active_days:
        return _guarded(table, loaded, None)  # every event of this wallet was rolled back
    rank = scoring.rank_key(profile.score, now, settings.score)
    item = dynamo.to_item(
        {
            **loaded.item_key,
            **keys.score_gsi(profile.address, rank),
            "v": loaded.version + 1,
            "address": profile.address,
            "score_at_write": scoring.score_at(profile.score, now, settings.score),
            "last_active": profile.last_active,
            "first_seen": profile.first_seen,
            "updated_at": now,
        }
    )
    item["doc"] = {"S": profile.model_dump_json()}
    return _guarded(table, loaded, item)


def _holding_write(table: str, wallet: str, holding: Holding, loaded: _Loaded) -> dict[str, Any]:
    if holding.in_count == 0 and holding.out_count == 0:
        return _guarded(table, loaded, None)
    item = dynamo.to_item(
        {
            **loaded.item_key,
            **keys.holders_gsi(holding.chain_id, holding.contract, max(holding.balance, 0)),
            "v": loaded.version + 1,
            "address": wallet,
            "chain_id": holding.chain_id,
            "contract": holding.contract,
            "standard": str(holding.standard),
        }
    )
    item["doc"] = {"S": holding.model_dump_json()}
    return _guarded(table, loaded, item)


def _holder_count_write(table: str, event: TokenTransfer, delta: int) -> dict[str, Any]:
    """Holders per token, for the whale label's top-1% cut; ADD commutes, so no version check is needed."""
    return {
        "Update": {
            "TableName": table,
            "Key": dynamo.to_item(keys.token_stats_key(event.chain_id, event.contract)),
            "UpdateExpression": "ADD holders :d",
            "ExpressionAttributeValues": {":d": {"N": str(delta)}},
        }
    }


def holder_count(chain_id: int, contract: str, settings: Settings | None = None) -> int:
    settings = settings or get_settings()
    response = dynamo.client("dynamodb").get_item(
        TableName=settings.app_table, Key=dynamo.to_item(keys.token_stats_key(chain_id, contract))
    )
    return int(response.get("Item", {}).get("holders", {}).get("N", "0"))


def _marker_write(table: str, marker_key: dict[str, str], event: ChainEvent, sign: int) -> dict[str, Any]:
    if sign > 0:
        item = dynamo.to_item({**marker_key, "block_hash": event.block_hash, "kind": event.kind})
        return {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
    return {
        "Delete": {
            "TableName": table,
            "Key": dynamo.to_item(marker_key),
            "ConditionExpression": "block_hash = :h",
            "ExpressionAttributeValues": {":h": {"S": event.block_hash}},
        }
    }


def load_profile(address: str, settings: Settings | None = None) -> tuple[WalletProfile, list[Holding]] | None:
    settings = settings or get_settings()
    db = dynamo.client("dynamodb")
    response = db.query(
        TableName=settings.app_table,
        KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
        ExpressionAttributeValues={
            ":pk": {"S": keys.wallet_pk(address)},
            ":a": {"S": keys.HOLDING_PREFIX},
            ":b": {"S": "PROFILE"},
        },
    )
    profile: WalletProfile | None = None
    holdings: list[Holding] = []
    for raw in response["Items"]:
        sk = raw["sk"]["S"]
        if sk == "PROFILE":
            profile = WalletProfile.model_validate_json(raw["doc"]["S"])
        elif sk.startswith(keys.HOLDING_PREFIX):
            holdings.append(Holding.model_validate_json(raw["doc"]["S"]))
    return (profile, holdings) if profile else None
