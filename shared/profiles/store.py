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
from itertools import islice
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
    chain_order,
    new_holding,
    replay_holding_times,
    replay_holding_window,
    replay_profile_times,
    step_holding_times,
    step_profile_times,
)
from shared.profiles.supply import SUPPLY_LIMB as SUPPLY_LIMB
from shared.profiles.supply import SUPPLY_LIMBS as SUPPLY_LIMBS
from shared.profiles.supply import holder_count as holder_count
from shared.profiles.supply import holder_count_update, minted_by
from shared.profiles.supply import supply_from_limbs as supply_from_limbs
from shared.profiles.supply import supply_limbs as supply_limbs
from shared.profiles.supply import token_supply as token_supply
from shared.settings import Settings, get_settings
from shared.store import dynamo, keys, paging, transact
from shared.store.transact import ApplyConflict as ApplyConflict

MAX_CONFLICT_RETRIES = 8


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
    applied = transact.apply_once(
        lambda: _apply_once(event, sign, settings), what=f"event {event.event_id}", attempts=MAX_CONFLICT_RETRIES
    )
    return applied is not None


def _apply_once(event: ChainEvent, sign: int, settings: Settings) -> bool:
    table = settings.app_table
    db = dynamo.client("dynamodb")
    marker_key = keys.applied_key(event.event_id)
    # No read of the marker first: its condition inside the transaction decides, and a redelivery
    # (the rare case) costs one cancelled transaction instead of every event paying a GetItem.
    pairs = activities_of(event)
    touched = _load(pairs, event, table)
    held_before = {hkey: holding.balance > 0 for hkey, (holding, _) in touched.holdings.items()}
    replay_profiles: set[str] = set()
    replay_holdings: set[tuple[str, int, str]] = set()
    # out-of-order arrivals: replay only from the arrival's time on, when the stored state allows it
    window_holdings: dict[tuple[str, int, str], int] = {}
    stored_holdings: dict[tuple[str, int, str], Holding] = {}
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
            stored_holdings.setdefault(hkey, holding.model_copy(deep=True))
            apply_to_holding(holding, activity, sign)
            in_order = holding.last_position is None or activity.position > holding.last_position
            if sign > 0 and in_order and hkey not in replay_holdings and hkey not in window_holdings:
                step_holding_times(holding, activity, before)
            elif sign > 0 and hkey not in replay_holdings:
                window_holdings[hkey] = min(window_holdings.get(hkey, activity.block_time), activity.block_time)
            else:
                replay_holdings.add(hkey)

    changed_activities = {(w, a.event_id, a.direction): a for w, a in pairs}
    for wallet in replay_profiles:
        profile, _ = touched.profiles[wallet]
        replay_profile_times(profile, _activities(table, wallet, changed_activities, sign))
    for (wallet, chain_id, contract), start in window_holdings.items():
        holding, _ = touched.holdings[(wallet, chain_id, contract)]
        window = [
            a
            for a in _activities(table, wallet, changed_activities, sign, since=start)
            if a.chain_id == chain_id and a.contract == contract and a.direction in ("in", "out")
        ]
        if not replay_holding_window(holding, stored_holdings[(wallet, chain_id, contract)], window, start):
            replay_holdings.add((wallet, chain_id, contract))
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
    minted = sign * minted_by(event)
    if (holder_delta or minted) and isinstance(event, TokenTransfer):
        writes.append(holder_count_update(table, event.chain_id, event.contract, holder_delta, minted))
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
    unique = {(k[keys.PK], k[keys.SK]): k for k in item_keys}
    items = [dynamo.from_item(raw) for raw in dynamo.batch_get(table, [dynamo.to_item(k) for k in unique.values()])]
    return {(item[keys.PK], item[keys.SK]): item for item in items}


def _activities(
    table: str, wallet: str, changed: dict[tuple[str, str, Direction], Activity], sign: int, since: int = 0
) -> list[Activity]:
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
        yield Activity.model_validate_json(item["doc"]["S"])


def _guarded(table: str, loaded: _Loaded, item: dict[str, Any] | None) -> dict[str, Any]:
    if item is None:
        return transact.versioned_delete(table, dynamo.to_item(loaded.item_key), loaded.version)
    return transact.versioned_put(table, item, loaded.version)


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


def _marker_write(table: str, marker_key: dict[str, str], event: ChainEvent, sign: int) -> dict[str, Any]:
    write = transact.marker_write(table, dynamo.to_item(marker_key), sign, event.block_hash)
    if sign > 0:
        write["Put"]["Item"]["kind"] = {"S": event.kind}  # which kind of event the marker stands for
    return write


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


# ---- the batched fast path ---------------------------------------------------------------------

MAX_TRANSACTION_ITEMS = 100


@dataclass
class _Cached:
    """One profile or holding as this batch knows it: the document and the version stored now."""

    doc: WalletProfile | Holding
    stored_version: int
    item_key: dict[str, str]
    dirty: bool = False
    # whether the stored holding has a positive balance: the holder count moves when this flips
    stored_holds: bool = False


def apply_changes(changes: list[tuple[ChainEvent | None, ChainEvent | None]], settings: Settings | None = None) -> None:
    """Apply a stream batch. New events in chain order share transactions (up to 100 items each, every
    event's APPLIED marker inside the one that writes its effects); rollbacks, modifications and
    out-of-order events take the per-event path. The result equals applying each change alone."""
    settings = settings or get_settings()
    inserts: list[ChainEvent] = []
    for old, new in changes:
        if old is None and new is not None:
            inserts.append(new)
            continue
        _apply_inserts(inserts, settings)
        inserts = []
        apply_change(old, new, settings)
    _apply_inserts(inserts, settings)


def _apply_inserts(events: list[ChainEvent], settings: Settings) -> None:
    if not events:
        return
    # a stream is ordered per item only; chain order keeps most holdings on the in-order path
    events = sorted(events, key=lambda e: (e.chain_id, e.block_number, e.log_index, e.sub_index))
    table = settings.app_table
    cache = _prefetch(events, table)
    chunk: list[ChainEvent] = []
    chunk_items: set[tuple[str, str]] = set()
    chunk_tokens: set[tuple[int, str]] = set()
    activity_count = 0
    seen: set[str] = set()
    for event in events:
        if event.event_id in seen:
            continue  # delivered twice in one batch: the first copy already carries its effects
        seen.add(event.event_id)
        pairs = activities_of(event)
        if not _in_order(event, pairs, cache):
            _commit(chunk, cache, settings)
            chunk, chunk_items, chunk_tokens, activity_count = [], set(), set(), 0
            apply_event(event, +1, settings)
            _refresh(cache, _item_keys(event, pairs), table)
            continue
        needed = set(_item_keys(event, pairs))
        tokens = chunk_tokens | ({(event.chain_id, event.contract)} if isinstance(event, TokenTransfer) else set())
        markers = len(chunk) + 1
        if markers + len(chunk_items | needed) + activity_count + len(pairs) + len(tokens) > MAX_TRANSACTION_ITEMS:
            _commit(chunk, cache, settings)
            chunk, chunk_items, chunk_tokens, activity_count = [], set(), set(), 0
            tokens = {(event.chain_id, event.contract)} if isinstance(event, TokenTransfer) else set()
        for wallet, activity in pairs:
            profile = cache[(keys.wallet_pk(wallet), "PROFILE")]
            assert isinstance(profile.doc, WalletProfile)
            apply_to_profile(profile.doc, activity, event, settings.score, +1)
            step_profile_times(profile.doc, activity)
            profile.dirty = True
            if isinstance(event, TokenTransfer):
                holding = cache[_holding_id(wallet, event)]
                assert isinstance(holding.doc, Holding)
                before = holding.doc.balance
                apply_to_holding(holding.doc, activity, +1)
                step_holding_times(holding.doc, activity, before)
                holding.dirty = True
        chunk.append(event)
        chunk_items |= needed
        chunk_tokens = tokens
        activity_count += len(pairs)
    _commit(chunk, cache, settings)


def _holding_id(wallet: str, event: TokenTransfer) -> tuple[str, str]:
    key = keys.holding_key(wallet, event.chain_id, event.contract)
    return key[keys.PK], key[keys.SK]


def _item_keys(event: ChainEvent, pairs: list[tuple[str, Activity]]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for wallet, _ in pairs:
        found.append((keys.wallet_pk(wallet), "PROFILE"))
        if isinstance(event, TokenTransfer):
            found.append(_holding_id(wallet, event))
    return found


def _in_order(event: ChainEvent, pairs: list[tuple[str, Activity]], cache: dict[tuple[str, str], _Cached]) -> bool:
    if not isinstance(event, TokenTransfer):
        return True
    for wallet, activity in pairs:
        holding = cache[_holding_id(wallet, event)].doc
        assert isinstance(holding, Holding)
        if holding.last_position is not None and activity.position <= holding.last_position:
            return False
    return True


def _prefetch(events: list[ChainEvent], table: str) -> dict[tuple[str, str], _Cached]:
    wanted: dict[tuple[str, str], dict[str, str]] = {}
    templates: dict[tuple[str, str], WalletProfile | Holding] = {}
    for event in events:
        for wallet, _ in activities_of(event):
            pkey = keys.profile_key(wallet)
            wanted[(pkey[keys.PK], pkey[keys.SK])] = pkey
            templates.setdefault((pkey[keys.PK], pkey[keys.SK]), WalletProfile(address=wallet))
            if isinstance(event, TokenTransfer):
                hkey = keys.holding_key(wallet, event.chain_id, event.contract)
                wanted[(hkey[keys.PK], hkey[keys.SK])] = hkey
                templates.setdefault((hkey[keys.PK], hkey[keys.SK]), new_holding(event))
    found: dict[tuple[str, str], dict[str, Any]] = {}
    keys_list = list(wanted.values())
    for start in range(0, len(keys_list), 100):
        found.update(_batch_get(table, keys_list[start : start + 100]))
    cache: dict[tuple[str, str], _Cached] = {}
    for ident, item_key in wanted.items():
        cache[ident] = _cached_from(found.get(ident), templates[ident], item_key)
    return cache


def _cached_from(raw: dict[str, Any] | None, template: WalletProfile | Holding, item_key: dict[str, str]) -> _Cached:
    if raw is None:
        return _Cached(doc=template, stored_version=0, item_key=item_key)
    model = WalletProfile if isinstance(template, WalletProfile) else Holding
    doc = model.model_validate_json(raw["doc"])
    holds = isinstance(doc, Holding) and doc.balance > 0
    return _Cached(doc=doc, stored_version=int(raw["v"]), item_key=item_key, stored_holds=holds)


def _refresh(cache: dict[tuple[str, str], _Cached], idents: list[tuple[str, str]], table: str) -> None:
    item_keys = [cache[i].item_key for i in idents]
    found = _batch_get(table, item_keys)
    for ident in idents:
        cache[ident] = _cached_from(found.get(ident), cache[ident].doc, cache[ident].item_key)


def _commit(chunk: list[ChainEvent], cache: dict[tuple[str, str], _Cached], settings: Settings) -> None:
    if not chunk:
        return
    table = settings.app_table
    now = int(time.time())
    writes: list[dict[str, Any]] = []
    for event in chunk:
        writes.append(_marker_write(table, keys.applied_key(event.event_id), event, +1))
        for wallet, activity in activities_of(event):
            akey = dynamo.to_item(keys.activity_key(wallet, activity.block_time, activity.event_id, activity.direction))
            writes.append({"Put": {"TableName": table, "Item": {**akey, "doc": {"S": activity.model_dump_json()}}}})
    dirty = {ident: c for ident, c in cache.items() if c.dirty}
    holder_deltas: dict[tuple[int, str], int] = {}
    for cached in dirty.values():
        loaded = _Loaded(cached.item_key, cached.stored_version)
        if isinstance(cached.doc, WalletProfile):
            writes.append(_profile_write(table, cached.doc, loaded, settings, now))
        else:
            wallet = keys.wallet_of(cached.item_key[keys.PK])
            writes.append(_holding_write(table, wallet, cached.doc, loaded))
    for cached in dirty.values():
        if isinstance(cached.doc, Holding):
            token = (cached.doc.chain_id, cached.doc.contract)
            holder_deltas[token] = holder_deltas.get(token, 0) + int(cached.doc.balance > 0) - int(cached.stored_holds)
    minted: dict[tuple[int, str], int] = {}
    for event in chunk:
        if minted_by(event):
            token = (event.chain_id, event.contract)
            minted[token] = minted.get(token, 0) + minted_by(event)
    for chain_id, contract in sorted(set(holder_deltas) | set(minted)):
        delta, supply_delta = holder_deltas.get((chain_id, contract), 0), minted.get((chain_id, contract), 0)
        if delta or supply_delta:
            writes.append(holder_count_update(table, chain_id, contract, delta, supply_delta))
    try:
        dynamo.client("dynamodb").transact_write_items(TransactItems=writes)
    except ClientError as exc:
        if transact.cancellation_reasons(exc) is None:
            raise
        # A redelivered event or a concurrent writer: nothing was written; redo the chunk one event at a time.
        for event in chunk:
            apply_event(event, +1, settings)
        _refresh(cache, list(dirty), table)
        return
    for cached in dirty.values():
        cached.stored_version += 1
        cached.dirty = False
        cached.stored_holds = isinstance(cached.doc, Holding) and cached.doc.balance > 0
