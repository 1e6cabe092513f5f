"""Applying chain events to stored profiles exactly once.

A stream batch becomes DynamoDB transactions, each of which writes, for every event it carries, the
APPLIED marker (created on apply, deleted on rollback, each conditional) and the wallets' activity
items, and every profile and holding those events touched (optimistic version check). Events that
arrive in chain order share a transaction; a rollback or an out-of-order arrival, which must read the
wallet's timeline, has one of its own. There is one way an event becomes writes, whichever
transaction carries it, and a cancelled transaction is redone one event at a time over a fresh read
of whatever may have changed. A redelivered, bisected or replayed stream record therefore changes
nothing twice, and two writers on one wallet cannot lose each other's update.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from shared.events import ChainEvent, NftSale, StakeEvent, TokenTransfer
from shared.profiles.collections import NFT_STANDARDS, Rollups, rollup_items_of
from shared.profiles.items import (
    Document,
    activity_write,
    codec_of,
    holding_timeline,
    holding_write,
    is_empty,
    profile_write,
    timeline,
)
from shared.profiles.items import iter_activities as iter_activities
from shared.profiles.items import load_profile as load_profile
from shared.profiles.model import (
    Activity,
    Holding,
    WalletProfile,
    activities_of,
    apply_to_holding,
    apply_to_profile,
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
from shared.settings import Settings
from shared.store import dynamo, keys, transact
from shared.store.transact import ApplyConflict as ApplyConflict

MAX_CONFLICT_RETRIES = 8
MAX_TRANSACTION_ITEMS = 100

Change = tuple[ChainEvent | None, ChainEvent | None]
ItemId = tuple[str, str]
"""The (pk, sk) of a profile or a holding."""


@dataclass
class _Stored:
    """A profile or holding as the store holds it now (version 0: the item does not exist)."""

    doc: Document
    version: int
    item_key: dict[str, str]
    blank: Document  # what the document is while the item does not exist
    fresh: bool = True  # False once a cancelled transaction showed the item may have changed

    @property
    def holds(self) -> bool:
        """A positive balance: the token's holder count moves when this flips."""
        return isinstance(self.doc, Holding) and self.doc.balance > 0


@dataclass
class _Chunk:
    """Events applied to working copies of the stored documents, to be written by one transaction."""

    events: list[tuple[ChainEvent, int]] = field(default_factory=list)
    working: dict[ItemId, Document] = field(default_factory=dict)
    activities: int = 0
    tokens: set[tuple[int, str]] = field(default_factory=set)
    markers: list[int] = field(default_factory=list)  # the index of each event's marker among the writes
    rollups: set[tuple[str, ...]] = field(default_factory=set)  # collections' market items it may write

    def items_with(self, event: ChainEvent) -> int:
        """The transaction's item count were `event` added."""
        pairs = activities_of(event)
        touched = self.working.keys() | {item_id for item_id, _, _ in _items_of(event)}
        markers = len(self.events) + 1
        rollups = len(self.rollups | _rollups_of(event))
        return markers + len(touched) + self.activities + len(pairs) + len(self.tokens | _token_of(event)) + rollups


@dataclass
class _Replay:
    """What one event leaves to replay from the timelines: profiles, holdings from a window's start
    on (with each holding as it was before the event), and holdings from the beginning."""

    profiles: set[str]
    windows: dict[ItemId, int]
    holdings: set[ItemId]
    before_event: dict[ItemId, Holding]
    owners: dict[ItemId, str]


def apply_change(old: ChainEvent | None, new: ChainEvent | None, settings: Settings) -> None:
    """Apply one stream record: INSERT (new only), REMOVE = rollback (old only), or MODIFY (both)."""
    apply_changes([(old, new)], settings)


def apply_changes(changes: list[Change], settings: Settings) -> None:
    """Apply a stream batch. New events in chain order share transactions (up to 100 items each, every
    event's APPLIED marker inside the one that writes its effects); rollbacks, modifications and
    out-of-order events have one each. The result equals applying each change alone."""
    _Applier(settings).apply(changes)


class _Applier:
    """One batch's view of the items its events touch, read once and kept current by its own writes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.table = settings.app_table
        self.stored: dict[ItemId, _Stored] = {}
        self.chunk = _Chunk()
        # events this batch applied, or found applied, and has not rolled back since
        self.applied: set[str] = set()

    def apply(self, changes: list[Change]) -> None:
        self._load(event for old, new in changes if old != new for event in (old, new) if event is not None)
        inserts: list[ChainEvent] = []
        for old, new in changes:
            if old is None and new is not None:
                inserts.append(new)
                continue
            self._insert(inserts)
            inserts = []
            if old is not None and new is not None and old == new:
                continue  # an identical re-put (moto emits MODIFY for it; DynamoDB emits nothing)
            if old is not None:
                self._apply_alone(old, -1)
            if new is not None:
                self._apply_alone(new, +1)
        self._insert(inserts)

    def _insert(self, events: list[ChainEvent]) -> None:
        # a stream is ordered per item only; chain order keeps most holdings stepping forward
        for event in sorted(events, key=lambda e: (e.chain_id, e.block_number, e.log_index, e.sub_index)):
            if event.event_id in self.applied:
                continue  # delivered twice in one batch: the first copy already carries its effects
            self.applied.add(event.event_id)
            if self.chunk.items_with(event) > MAX_TRANSACTION_ITEMS:
                self._commit()
            self._load([event])
            if all(self._steps_forward(event).values()):
                self._add(event, +1)
            else:
                self._apply_alone(event, +1)
        self._commit()

    def _apply_alone(self, event: ChainEvent, sign: int) -> None:
        """Apply or roll back one event in a transaction of its own (nothing, when it is already so)."""
        self._commit()

        def attempt() -> bool:
            self._load([event])  # after a lost race, the fresh read
            self._add(event, sign)
            self._write()
            return True

        transact.apply_once(attempt, what=f"event {event.event_id}", attempts=MAX_CONFLICT_RETRIES)
        if sign > 0:
            self.applied.add(event.event_id)
        else:
            self.applied.discard(event.event_id)

    def _commit(self) -> None:
        chunk = self.chunk
        if not chunk.events:
            return
        try:
            self._write()
        except ClientError as exc:
            reasons = transact.cancellation_reasons(exc)
            if reasons is None:
                raise
            # nothing was written: redo one event at a time what the cancellation did not show done
            for event, sign in _unsettled(chunk, reasons):
                self._apply_alone(event, sign)

    # ---- reading ----------------------------------------------------------------------------------

    def _load(self, events: Iterable[ChainEvent]) -> None:
        """Read the items of `events` not known yet, or no longer known fresh: one BatchGetItem per 100."""
        wanted: dict[ItemId, tuple[dict[str, str], Document]] = {}
        for event in events:
            for item_id, item_key, blank in _items_of(event):
                known = self.stored.get(item_id)
                if known is None or not known.fresh:
                    wanted.setdefault(item_id, (item_key, known.blank if known else blank))
        if not wanted:
            return
        found = dynamo.batch_get_by_key(self.table, [item_key for item_key, _ in wanted.values()])
        for item_id, (item_key, blank) in wanted.items():
            raw = found.get(item_id)
            doc = codec_of(blank).decode(raw) if raw else blank.model_copy(deep=True)
            self.stored[item_id] = _Stored(doc, transact.version_of(raw), item_key, blank)

    def _current(self, item_id: ItemId) -> Document:
        if item_id in self.chunk.working:
            return self.chunk.working[item_id]
        return self.stored[item_id].doc

    def _working(self, item_id: ItemId) -> Document:
        if item_id not in self.chunk.working:
            self.chunk.working[item_id] = self.stored[item_id].doc.model_copy(deep=True)
        return self.chunk.working[item_id]

    def _steps_forward(self, event: ChainEvent) -> dict[ItemId, bool]:
        """Per holding the event moves (per profile, for a stake): whether the event comes after all that
        the document has seen, so its times step forward; otherwise they are replayed from the wallet's
        timeline."""
        forward: dict[ItemId, bool] = {}
        if isinstance(event, TokenTransfer):
            for wallet, activity in activities_of(event):
                item_id = _holding_id(wallet, event)
                holding = self._current(item_id)
                assert isinstance(holding, Holding)
                last = holding.last_position
                forward[item_id] = forward.get(item_id, True) and (last is None or activity.position > last)
        elif isinstance(event, StakeEvent):
            for wallet, activity in activities_of(event):
                profile_id = _profile_id(wallet)
                profile = self._current(profile_id)
                assert isinstance(profile, WalletProfile)
                last = profile.last_position
                forward[profile_id] = last is None or activity.position > last
        return forward

    # ---- applying ---------------------------------------------------------------------------------

    def _add(self, event: ChainEvent, sign: int) -> None:
        """Apply (sign=+1) or roll back (sign=-1) one event on the chunk's working copies."""
        pairs = activities_of(event)
        forward = self._steps_forward(event)
        self.chunk.events.append((event, sign))
        self.chunk.activities += len(pairs)
        self.chunk.tokens |= _token_of(event)
        self.chunk.rollups |= _rollups_of(event)
        if isinstance(event, NftSale):
            self._add_sale(event)
        replay_profiles: set[str] = set()
        replay_holdings: set[ItemId] = set()
        # out-of-order arrivals: replay only from the arrival's time on, when the stored state allows it
        window_holdings: dict[ItemId, int] = {}
        before_event: dict[ItemId, Holding] = {}
        owners: dict[ItemId, str] = {}
        for wallet, activity in pairs:
            profile = self._working(_profile_id(wallet))
            assert isinstance(profile, WalletProfile)
            apply_to_profile(profile, activity, event, self.settings.score, sign)
            if sign > 0 and forward.get(_profile_id(wallet), True):
                step_profile_times(profile, activity)
            else:
                replay_profiles.add(wallet)
            if isinstance(event, TokenTransfer):
                item_id = _holding_id(wallet, event)
                owners[item_id] = wallet
                holding = self._working(item_id)
                assert isinstance(holding, Holding)
                before = holding.balance
                if not forward[item_id]:
                    before_event.setdefault(item_id, holding.model_copy(deep=True))
                apply_to_holding(holding, activity, sign)
                if sign > 0 and forward[item_id] and item_id not in replay_holdings:
                    step_holding_times(holding, activity, before)
                elif sign > 0 and item_id not in replay_holdings:
                    earliest = min(window_holdings.get(item_id, activity.block_time), activity.block_time)
                    window_holdings[item_id] = earliest
                else:
                    replay_holdings.add(item_id)
        if replay_profiles or window_holdings or replay_holdings:
            replay = _Replay(replay_profiles, window_holdings, replay_holdings, before_event, owners)
            self._replay(pairs, sign, replay)

    def _add_sale(self, sale: NftSale) -> None:
        """A sale's parties' holdings of the collection join the transaction, version-checked: whether
        each is a flipping holder of it may change."""
        for wallet in (sale.seller, sale.buyer):
            self._working(_sale_holding_id(wallet, sale))

    def _replay(self, pairs: list[tuple[str, Activity]], sign: int, replay: _Replay) -> None:
        """Recompute order-dependent times from the wallets' timelines as they will be after this event."""
        changed = {(wallet, a.event_id, a.direction): a for wallet, a in pairs}
        for wallet in replay.profiles:
            profile = self._working(_profile_id(wallet))
            assert isinstance(profile, WalletProfile)
            replay_profile_times(profile, timeline(self.table, wallet, changed, sign))
        for item_id, start in replay.windows.items():
            holding = self._working(item_id)
            assert isinstance(holding, Holding)
            window = holding_timeline(self.table, replay.owners[item_id], holding, changed, sign, since=start)
            if not replay_holding_window(holding, replay.before_event[item_id], window, start):
                replay.holdings.add(item_id)
        for item_id in replay.holdings:
            holding = self._working(item_id)
            assert isinstance(holding, Holding)
            history = holding_timeline(self.table, replay.owners[item_id], holding, changed, sign)
            replay_holding_times(holding, history)

    # ---- writing ----------------------------------------------------------------------------------

    def _write(self) -> None:
        """Write the chunk in one transaction. On success the stored state is the chunk's working state;
        on a cancellation, whatever it showed may have changed is read afresh before its next use."""
        chunk, self.chunk = self.chunk, _Chunk()
        writes = self._writes(chunk)
        try:
            dynamo.client("dynamodb").transact_write_items(TransactItems=writes)
        except ClientError as exc:
            reasons = transact.cancellation_reasons(exc)
            if reasons is None or not _markers_alone_failed(chunk, reasons):
                for item_id in chunk.working:
                    self.stored[item_id].fresh = False
            raise
        for item_id, doc in chunk.working.items():
            stored = self.stored[item_id]
            if is_empty(doc):
                stored.doc, stored.version = stored.blank.model_copy(deep=True), 0
            else:
                stored.doc, stored.version = doc, stored.version + 1

    def _writes(self, chunk: _Chunk) -> list[dict[str, Any]]:
        table, now = self.table, int(time.time())
        writes: list[dict[str, Any]] = []
        minted: dict[tuple[int, str], int] = {}
        for event, sign in chunk.events:
            chunk.markers.append(len(writes))
            marker_key = dynamo.to_item(keys.applied_key(event.event_id))
            # the marker names the kind of event it stands for
            writes.append(transact.marker_write(table, marker_key, sign, event.block_hash, {"kind": event.kind}))
            for wallet, activity in activities_of(event):
                writes.append(activity_write(table, wallet, activity, sign))
            if minted_by(event):
                token = (event.chain_id, event.contract)
                minted[token] = minted.get(token, 0) + sign * minted_by(event)
        holder_deltas: dict[tuple[int, str], int] = {}
        for item_id, doc in chunk.working.items():
            stored = self.stored[item_id]
            if isinstance(doc, WalletProfile):
                writes.append(profile_write(table, doc, stored.item_key, stored.version, self.settings, now))
                continue
            wallet = keys.wallet_of(item_id[0])
            writes.append(holding_write(table, wallet, doc, stored.item_key, stored.version))
            token = (doc.chain_id, doc.contract)
            holder_deltas[token] = holder_deltas.get(token, 0) + int(doc.balance > 0) - int(stored.holds)
        for chain_id, contract in sorted(set(holder_deltas) | set(minted)):
            delta, supply_delta = holder_deltas.get((chain_id, contract), 0), minted.get((chain_id, contract), 0)
            if delta or supply_delta:
                writes.append(holder_count_update(table, chain_id, contract, delta, supply_delta))
        writes.extend(self._rollups(chunk).writes(table))
        return writes

    def _rollups(self, chunk: _Chunk) -> Rollups:
        """The chunk's changes to its collections' market rollups (docs/architecture.md, "NFT markets")."""
        rollups = Rollups()
        for event, sign in chunk.events:
            if isinstance(event, TokenTransfer | NftSale):
                rollups.add_event(event, sign)
        for item_id, doc in chunk.working.items():
            if isinstance(doc, WalletProfile):
                before = self.stored[item_id].doc
                assert isinstance(before, WalletProfile)
                rollups.add_holds(before, doc)
        flipper_days = self.settings.labels.flipper_days
        for item_id, doc in chunk.working.items():
            if not isinstance(doc, Holding) or doc.standard not in NFT_STANDARDS:
                continue
            stored = self.stored[item_id].doc
            assert isinstance(stored, Holding)
            token = (doc.chain_id, doc.contract)
            rollups.add_holding(token, stored.balance, doc.balance)
            profile_id = _profile_id(keys.wallet_of(item_id[0]))
            if profile_id in self.stored:
                before = self.stored[profile_id].doc
                after = chunk.working.get(profile_id, before)
                assert isinstance(before, WalletProfile) and isinstance(after, WalletProfile)
                rollups.add_flipper(token, (stored.balance > 0, before), (doc.balance > 0, after), flipper_days)
        return rollups


def _failed(reasons: list[str]) -> set[int]:
    return {index for index, code in enumerate(reasons) if code != "None"}


def _markers_alone_failed(chunk: _Chunk, reasons: list[str]) -> bool:
    """Only markers' conditions failed: every item the chunk read is still as it was read."""
    failed = _failed(reasons)
    return bool(failed) and failed <= set(chunk.markers)


def _unsettled(chunk: _Chunk, reasons: list[str]) -> list[tuple[ChainEvent, int]]:
    """The events of a cancelled chunk still to apply. When markers alone failed, their events are
    already so (applied by an earlier delivery, or rollbacks of what is not applied) and the rest
    stand; otherwise an item changed under the chunk, and every event is still to apply."""
    if not _markers_alone_failed(chunk, reasons):
        return chunk.events
    failed = _failed(reasons)
    return [change for change, marker in zip(chunk.events, chunk.markers, strict=True) if marker not in failed]


def _items_of(event: ChainEvent) -> list[tuple[ItemId, dict[str, str], Document]]:
    """The profiles and holdings an event touches: id, key, and the document of an item not yet there."""
    found: list[tuple[ItemId, dict[str, str], Document]] = []
    for wallet, _ in activities_of(event):
        found.append((_profile_id(wallet), keys.profile_key(wallet), WalletProfile(address=wallet)))
        if isinstance(event, TokenTransfer):
            item_key = keys.holding_key(wallet, event.chain_id, event.contract)
            found.append((_holding_id(wallet, event), item_key, new_holding(event)))
        elif isinstance(event, NftSale):
            item_key = keys.holding_key(wallet, event.chain_id, event.collection)
            blank = Holding(chain_id=event.chain_id, contract=event.collection, standard=event.nft_standard)
            found.append((_sale_holding_id(wallet, event), item_key, blank))
    return found


def _profile_id(wallet: str) -> ItemId:
    key = keys.profile_key(wallet)
    return key[keys.PK], key[keys.SK]


def _holding_id(wallet: str, event: TokenTransfer) -> ItemId:
    key = keys.holding_key(wallet, event.chain_id, event.contract)
    return key[keys.PK], key[keys.SK]


def _sale_holding_id(wallet: str, sale: NftSale) -> ItemId:
    key = keys.holding_key(wallet, sale.chain_id, sale.collection)
    return key[keys.PK], key[keys.SK]


def _rollups_of(event: ChainEvent) -> set[tuple[str, ...]]:
    return rollup_items_of(event) if isinstance(event, TokenTransfer | NftSale) else set()


def _token_of(event: ChainEvent) -> set[tuple[int, str]]:
    return {(event.chain_id, event.contract)} if isinstance(event, TokenTransfer) else set()
