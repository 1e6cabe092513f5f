"""Lending state in the App table: positions (exactly once), the exposure index, rates, health and alerts.

- A position event is one transaction: the LENDAPPLIED marker (created on apply, deleted on rollback,
  each conditional), the wallet's position in that pool (version-checked), and the exposure index
  items that change with it. So a redelivered or rolled-back event moves the index exactly once.
- The exposure index (A42) lists, per (chain, asset), every wallet that owes something in a pool
  and holds that asset there as debt or collateral: a price update reads exactly those wallets.
- A health record (A40) is written only over an older block (version-checked after reading the
  block), so a stale evaluation never overwrites a newer one. The alerts of its crossings are put
  in the same transaction (A45, attribute_not_exists): a redelivered batch finds its evaluations
  stale and cannot alert twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from shared.events import LendingEvent
from shared.lending.model import Band, PoolPosition, apply_lending
from shared.lending.refinance import RateQuote
from shared.settings import Settings
from shared.store import dynamo, keys, paging, transact
from shared.store.codec import DocCodec

MAX_CONFLICT_RETRIES = 8

POSITION_CODEC = DocCodec(PoolPosition)
RATE_CODEC = DocCodec(RateQuote)


# ---- positions and the exposure index ------------------------------------------------------------


@dataclass
class Applied:
    position: PoolPosition
    exposed_before: set[str]
    exposed_after: set[str]


def apply_position_event(event: LendingEvent, sign: int, settings: Settings) -> Applied | None:
    """Apply (sign=+1) or roll back (sign=-1) one pool event; None when it was already so."""
    return transact.apply_once(
        lambda: _apply_once(event, sign, settings),
        what=f"lending event {event.event_id}",
        attempts=MAX_CONFLICT_RETRIES,
    )


def _apply_once(event: LendingEvent, sign: int, settings: Settings) -> Applied:
    table = settings.app_table
    db = dynamo.client("dynamodb")
    item_key = keys.lending_position_key(event.user, event.chain_id, event.contract)
    raw = db.get_item(TableName=table, Key=dynamo.to_item(item_key), ConsistentRead=True).get("Item")
    version = transact.version_of(raw)
    position = POSITION_CODEC.decode_or(
        raw, PoolPosition(chain_id=event.chain_id, pool=event.contract, address=event.user)
    )
    exposed_before = position.exposure
    apply_lending(position, event, sign)
    exposed_after = position.exposure
    marker = dynamo.to_item(keys.lending_applied_key(event.event_id))
    writes: list[dict[str, Any]] = [transact.marker_write(table, marker, sign, event.block_hash)]
    if position.is_empty:
        if version:
            writes.append(transact.versioned_delete(table, dynamo.to_item(item_key), version))
    else:
        item = POSITION_CODEC.encode(
            item_key, position, chain_id=event.chain_id, pool=event.contract, address=event.user
        )
        writes.append(transact.versioned_put(table, item, version))
    for asset in sorted(exposed_after - exposed_before):
        exposure = keys.exposure_key(event.chain_id, asset, event.contract, event.user)
        values = {**exposure, "chain_id": event.chain_id, "pool": event.contract, "address": event.user}
        writes.append({"Put": {"TableName": table, "Item": dynamo.to_item(values)}})
    for asset in sorted(exposed_before - exposed_after):
        exposure = keys.exposure_key(event.chain_id, asset, event.contract, event.user)
        writes.append({"Delete": {"TableName": table, "Key": dynamo.to_item(exposure)}})
    db.transact_write_items(TransactItems=writes)
    return Applied(position, exposed_before, exposed_after)


def exposed_wallets(chain_id: int, asset: str, settings: Settings) -> list[tuple[str, str]]:
    """(pool, wallet) pairs exposed to the asset's price on that chain: one Query per 1 MB page."""
    items = paging.query_all(
        settings.app_table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.exposure_partition(chain_id, asset)}},
        ProjectionExpression="#pool, address",
        ExpressionAttributeNames={"#pool": "pool"},
    )
    exposures = [dynamo.from_item(item) for item in items]
    return [(exposure["pool"], exposure["address"]) for exposure in exposures]


def load_positions(address: str, settings: Settings) -> list[PoolPosition]:
    return [POSITION_CODEC.decode(item) for item in _wallet_items(address, keys.LENDING_POSITION_PREFIX, settings)]


def _wallet_items(address: str, prefix: str, settings: Settings) -> Iterator[dict[str, Any]]:
    return paging.query_all(
        settings.app_table,
        KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
        ExpressionAttributeValues={":p": {"S": keys.wallet_pk(address)}, ":s": {"S": prefix}},
    )


# ---- reserve rates -------------------------------------------------------------------------------


def store_rate(event: LendingEvent, name: str, settings: Settings) -> bool:
    """The reserve's latest rates; an older update never overwrites a newer one. False when stale."""
    quote = RateQuote(
        chain_id=event.chain_id,
        pool=event.contract,
        asset=event.reserve,
        name=name,
        variable_borrow_rate=event.variable_borrow_rate,
        liquidity_rate=event.liquidity_rate,
        block=event.block_number,
    )
    rates_key = keys.rates_key(event.chain_id, event.contract, event.reserve)
    item = RATE_CODEC.encode(rates_key, quote, block=event.block_number)
    try:
        dynamo.client("dynamodb").put_item(
            TableName=settings.app_table,
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR #b < :b",
            ExpressionAttributeNames={"#b": "block"},
            ExpressionAttributeValues={":b": {"N": str(event.block_number)}},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def load_rates(settings: Settings) -> dict[tuple[int, str, str], RateQuote]:
    """Every tracked pool's reserve rates: one small partition (pools x reserves items)."""
    items = paging.query_all(
        settings.app_table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.RATES_PARTITION}},
    )
    quotes = [RATE_CODEC.decode(item) for item in items]
    return {(quote.chain_id, quote.pool, quote.asset): quote for quote in quotes}


# ---- health records, the wallet summary and alerts --------------------------------------------------


class PendingAlert(BaseModel):
    """An alert recorded but not yet handed to the campaigns trigger (fire is idempotent per occurrence)."""

    sk: str
    occurrence: str
    band: Band
    context: dict[str, Any]


class HealthRecord(BaseModel):
    chain_id: int
    pool: str
    address: str
    block: int = -1
    block_time: int = 0
    health_factor: float | None = None  # None: no debt
    health_factor_wad: str = str(2**256 - 1)  # exact, as getUserAccountData returned it
    total_collateral_base: str = "0"
    total_debt_base: str = "0"
    band: Band = "safe"
    latched: list[str] = Field(default_factory=list)
    seq: int = 0
    first_warned_at: int | None = None
    pending: list[PendingAlert] = Field(default_factory=list)
    evaluated_at: float = 0.0


class LendingSummary(BaseModel):
    """Wallet-wide: the last alert (for the rate limit) and the first time any pool left safe."""

    address: str
    last_alert_at: int | None = None
    last_severity: int = 0
    first_warned_at: int | None = None


HEALTH_CODEC = DocCodec(HealthRecord)
SUMMARY_CODEC = DocCodec(LendingSummary)


@dataclass
class Stored:
    doc: Any
    version: int
    item_key: dict[str, str]


@dataclass
class Loaded:
    records: dict[tuple[str, int, str], Stored]
    summaries: dict[str, Stored]
    positions: dict[tuple[str, int, str], PoolPosition | None]


def load_health(pairs: Iterable[tuple[str, int, str]], settings: Settings) -> Loaded:
    """Health records and positions of (wallet, chain, pool) pairs, and their wallets' summaries, by
    BatchGetItem (positions ride along: an alert names the wallet's debts and collateral)."""
    pairs = list(dict.fromkeys(pairs))
    wanted = [
        key
        for address, chain_id, pool in pairs
        for key in (
            keys.health_key(address, chain_id, pool),
            keys.lending_summary_key(address),
            keys.lending_position_key(address, chain_id, pool),
        )
    ]
    found = dynamo.batch_get_by_key(settings.app_table, wanted)
    records: dict[tuple[str, int, str], Stored] = {}
    summaries: dict[str, Stored] = {}
    positions: dict[tuple[str, int, str], PoolPosition | None] = {}
    for address, chain_id, pool in pairs:
        raw_position = found.get(_item_id(keys.lending_position_key(address, chain_id, pool)))
        positions[(address, chain_id, pool)] = POSITION_CODEC.decode(raw_position) if raw_position else None
        key = keys.health_key(address, chain_id, pool)
        raw = found.get(_item_id(key))
        doc = HEALTH_CODEC.decode_or(raw, HealthRecord(chain_id=chain_id, pool=pool, address=address))
        records[(address, chain_id, pool)] = Stored(doc, transact.version_of(raw), key)
        if address not in summaries:
            skey = keys.lending_summary_key(address)
            raw = found.get(_item_id(skey))
            sdoc = SUMMARY_CODEC.decode_or(raw, LendingSummary(address=address))
            summaries[address] = Stored(sdoc, transact.version_of(raw), skey)
    return Loaded(records, summaries, positions)


def _item_id(key: dict[str, str]) -> tuple[str, str]:
    return key[keys.PK], key[keys.SK]


def health_write(table: str, stored: Stored, doc: HealthRecord) -> dict[str, Any]:
    """A record's Put over exactly the version read and, when one is stored, only over an older block."""
    item = HEALTH_CODEC.encode(stored.item_key, doc, block=doc.block, band=doc.band, health_factor=doc.health_factor)
    return transact.versioned_put(table, item, stored.version, transact.below("block", doc.block))


def summary_write(table: str, stored: Stored, doc: LendingSummary) -> dict[str, Any]:
    """A wallet summary's Put over exactly the version read."""
    return transact.versioned_put(table, SUMMARY_CODEC.encode(stored.item_key, doc), stored.version)


def alert_put(table: str, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": table,
            "Item": dynamo.to_item(record),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def settle_alerts(stored: Stored, published: list[str], settings: Settings) -> None:
    """Note the fired alerts sent and forget them as pending, in one transaction. Should the record have
    moved on meanwhile (its writer carried the pending alerts and fires them again, idempotently),
    only the alerts are noted."""
    now = {"N": repr(time.time())}
    notes = [
        {
            "Update": {
                "TableName": settings.app_table,
                "Key": dynamo.to_item({keys.PK: keys.alert_pk(stored.doc.address), keys.SK: sk}),
                "UpdateExpression": "SET #s = :s, enqueued_at = :t",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":s": {"S": "enqueued"}, ":t": now},
            }
        }
        for sk in published
    ]
    cleared = stored.doc.model_copy(update={"pending": []})
    clear = transact.versioned_update(
        settings.app_table,
        dynamo.to_item(stored.item_key),
        stored.version,
        HEALTH_CODEC.typed(cleared),
    )
    db = dynamo.client("dynamodb")
    try:
        db.transact_write_items(TransactItems=[*notes, clear])
    except ClientError as exc:
        if transact.cancellation_reasons(exc) is None:
            raise
        if notes:
            db.transact_write_items(TransactItems=notes)


def load_alerts(address: str, settings: Settings) -> list[dict[str, Any]]:
    return list(
        paging.query_items(
            settings.app_table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": keys.alert_pk(address)}},
        )
    )


def load_health_records(address: str, settings: Settings) -> list[HealthRecord]:
    return [HEALTH_CODEC.decode(item) for item in _wallet_items(address, keys.HEALTH_PREFIX, settings)]
