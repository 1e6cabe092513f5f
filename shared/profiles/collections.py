"""Per-collection NFT market rollups, written with ADD inside each profile transaction (so exactly once,
and undone by a rollback's transaction) and read by the API (docs/architecture.md, "NFT markets").

Three items per collection, all in its `TOKEN#` partition: a day item (mints, and sales and volume per
currency), one item per sale (its price, for the floor over a window of days) and the totals (holders
by how many tokens they hold, units sold by whole days held, and holders who flipped it). Every read is
one GetItem or one Query over the asked days: no cost grows with the number of wallets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.events import NftSale, Standard, TokenTransfer
from shared.profiles.model import DAY, WalletProfile
from shared.profiles.supply import SUPPLY_LIMBS, supply_from_limbs, supply_limbs
from shared.profiles.trades import flipped_collections, holding_times
from shared.settings import Settings
from shared.store import dynamo, keys, paging

NFT_STANDARDS = (Standard.ERC721, Standard.ERC1155)
# holders by the units of the collection they hold: (attribute, fewest, most)
SIZE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("holders_1", 1, 1),
    ("holders_2_5", 2, 5),
    ("holders_6_20", 6, 20),
    ("holders_over_20", 21, None),
)
HELD_PREFIX = "held_days_"  # units sold after being held this many whole days
MAX_HELD_DAYS = 366  # longer holds share the last count
FLIPPER_HOLDERS = "flipper_holders"

Token = tuple[int, str]  # chain, collection


def size_bucket(units: int) -> str | None:
    for name, low, high in SIZE_BUCKETS:
        if units >= low and (high is None or units <= high):
            return name
    return None


@dataclass
class Rollups:
    """The ADDs a transaction makes to collections' day and totals items, and its sale items."""

    days: dict[tuple[int, str, int], dict[str, int]] = field(default_factory=dict)
    stats: dict[Token, dict[str, int]] = field(default_factory=dict)
    sales: list[tuple[NftSale, int]] = field(default_factory=list)

    def add_day(self, chain_id: int, collection: str, block_time: int, name: str, delta: int) -> None:
        counts = self.days.setdefault((chain_id, collection, block_time // DAY), {})
        counts[name] = counts.get(name, 0) + delta

    def add_stat(self, token: Token, name: str, delta: int) -> None:
        counts = self.stats.setdefault(token, {})
        counts[name] = counts.get(name, 0) + delta

    def add_event(self, event: TokenTransfer | NftSale, sign: int) -> None:
        if isinstance(event, TokenTransfer):
            if event.is_mint and event.standard in NFT_STANDARDS:
                self.add_day(event.chain_id, event.contract, event.block_time, "mints", sign * event.amount)
            return
        self.sales.append((event, sign))
        self.add_day(event.chain_id, event.collection, event.block_time, f"sales#{event.currency}", sign)
        for name, limb in zip(SUPPLY_LIMBS, supply_limbs(sign * event.price), strict=True):
            self.add_day(event.chain_id, event.collection, event.block_time, f"volume#{event.currency}#{name}", limb)

    def add_holds(self, before: WalletProfile, after: WalletProfile) -> None:
        """A wallet's units sold, by whole days held, per collection, as this transaction changes them. Each
        is derived from the wallet's whole trade record, so they are exact in any order of arrival."""
        changed = {
            key
            for key in before.nft_trades.keys() | after.nft_trades.keys()
            if before.nft_trades.get(key) != after.nft_trades.get(key)
        }
        for key in changed:
            chain_id, collection, _ = key.split(":")
            token = (int(chain_id), collection)
            for trade, sign in ((before.nft_trades.get(key), -1), (after.nft_trades.get(key), +1)):
                for held in holding_times(trade) if trade else []:
                    self.add_stat(token, f"{HELD_PREFIX}{min(held // DAY, MAX_HELD_DAYS)}", sign)

    def add_holding(self, token: Token, before: int, after: int) -> None:
        was, now = size_bucket(before), size_bucket(after)
        if was != now:
            if was:
                self.add_stat(token, was, -1)
            if now:
                self.add_stat(token, now, +1)

    def add_flipper(
        self,
        token: Token,
        before: tuple[bool, WalletProfile],
        after: tuple[bool, WalletProfile],
        flipper_days: int,
    ) -> None:
        """A holder who flipped the collection counts once among its flipping holders."""
        name = f"{token[0]}:{token[1]}"
        was = before[0] and name in flipped_collections(before[1], flipper_days)
        now = after[0] and name in flipped_collections(after[1], flipper_days)
        if was != now:
            self.add_stat(token, FLIPPER_HOLDERS, 1 if now else -1)

    def writes(self, table: str) -> list[dict[str, Any]]:
        writes = [
            _add(table, keys.nft_day_key(chain_id, collection, day), counts)
            for (chain_id, collection, day), counts in sorted(self.days.items())
        ]
        writes += [
            _add(table, keys.nft_stats_key(chain_id, collection), counts)
            for (chain_id, collection), counts in sorted(self.stats.items())
        ]
        for sale, sign in self.sales:
            key = keys.nft_sale_key(sale.chain_id, sale.collection, sale.block_time // DAY, sale.event_id)
            if sign > 0:
                item = {**key, "currency": sale.currency, "price": str(sale.price), "token_id": str(sale.token_id)}
                writes.append({"Put": {"TableName": table, "Item": dynamo.to_item(item)}})
            else:
                writes.append({"Delete": {"TableName": table, "Key": dynamo.to_item(key)}})
        return [write for write in writes if write]

    def item_count(self) -> int:
        return len(self.days) + len(self.stats) + len(self.sales)


def rollup_items_of(event: TokenTransfer | NftSale) -> set[tuple[str, ...]]:
    """The rollup items one event may write, for sizing a transaction."""
    if isinstance(event, NftSale):
        day = event.block_time // DAY
        return {
            ("day", str(event.chain_id), event.collection, str(day)),
            ("stats", str(event.chain_id), event.collection),
            ("sale", event.event_id),
        }
    if event.standard not in NFT_STANDARDS:
        return set()
    found: set[tuple[str, ...]] = {("stats", str(event.chain_id), event.contract)}
    if event.is_mint:
        found.add(("day", str(event.chain_id), event.contract, str(event.block_time // DAY)))
    return found


def _add(table: str, key: dict[str, str], counts: dict[str, int]) -> dict[str, Any]:
    moved = {name: delta for name, delta in counts.items() if delta}
    if not moved:
        return {}
    names = {f"#a{i}": name for i, name in enumerate(sorted(moved))}
    return {
        "Update": {
            "TableName": table,
            "Key": dynamo.to_item(key),
            "UpdateExpression": "ADD " + ", ".join(f"{alias} :a{alias[2:]}" for alias in names),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {f":a{alias[2:]}": {"N": str(moved[name])} for alias, name in names.items()},
        }
    }


# ---- reading -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionDay:
    day: int  # unix day
    mints: int
    sales: dict[str, int]  # currency -> sales
    volume: dict[str, int]  # currency -> sum of prices


@dataclass(frozen=True)
class CollectionStats:
    holders_by_size: dict[str, int]  # "1", "2-5", "6-20", "over 20" -> holders
    held_days: dict[int, int]  # whole days held -> units sold after so long
    flipper_holders: int

    @property
    def holders(self) -> int:
        return sum(self.holders_by_size.values())

    @property
    def median_held_days(self) -> float | None:
        counts = sorted((days, units) for days, units in self.held_days.items() if units > 0)
        return _median(counts)

    @property
    def flipper_share(self) -> float | None:
        return self.flipper_holders / self.holders if self.holders else None


def _median(counts: list[tuple[int, int]]) -> float | None:
    total = sum(units for _, units in counts)
    if not total:
        return None
    expanded_at = _expanded(counts)
    if total % 2:
        return float(expanded_at(total // 2))
    return (expanded_at(total // 2 - 1) + expanded_at(total // 2)) / 2


def _expanded(counts: list[tuple[int, int]]) -> Any:
    def at(index: int) -> int:
        seen = 0
        for value, units in counts:
            seen += units
            if index < seen:
                return value
        raise IndexError(index)

    return at


def collection_days(
    chain_id: int, collection: str, first_day: int, last_day: int, settings: Settings
) -> list[CollectionDay]:
    start, end = keys.nft_day_key(chain_id, collection, first_day), keys.nft_day_key(chain_id, collection, last_day)
    items = paging.query_all(
        settings.app_table,
        KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
        ExpressionAttributeValues={
            ":pk": {"S": start[keys.PK]},
            ":from": {"S": start[keys.SK]},
            ":to": {"S": end[keys.SK]},
        },
    )
    return [_day_of(dynamo.from_item(item)) for item in items]


def _day_of(item: dict[str, Any]) -> CollectionDay:
    sales: dict[str, int] = {}
    limbs: dict[str, list[int]] = {}
    for name, value in item.items():
        if name.startswith("sales#") and int(value):
            sales[name.split("#", 1)[1]] = int(value)
        elif name.startswith("volume#"):
            _, currency, limb = name.split("#")
            limbs.setdefault(currency, [0] * len(SUPPLY_LIMBS))[SUPPLY_LIMBS.index(limb)] = int(value)
    volume = {currency: supply_from_limbs(parts) for currency, parts in limbs.items() if currency in sales}
    day = int(item[keys.SK][len(keys.NFT_DAY_PREFIX) :])
    return CollectionDay(day=day, mints=int(item.get("mints", 0)), sales=sales, volume=volume)


def floor_prices(chain_id: int, collection: str, first_day: int, last_day: int, settings: Settings) -> dict[str, int]:
    """The lowest sale price per currency over the days asked (a Query of those days' sales)."""
    start = keys.nft_sale_key(chain_id, collection, first_day, "")
    end = keys.nft_sale_key(chain_id, collection, last_day, "~")
    items = paging.query_all(
        settings.app_table,
        KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
        ExpressionAttributeValues={
            ":pk": {"S": start[keys.PK]},
            ":from": {"S": start[keys.SK]},
            ":to": {"S": end[keys.SK]},
        },
        ProjectionExpression="currency, price",
    )
    floor: dict[str, int] = {}
    for raw in items:
        item = dynamo.from_item(raw)
        price = int(item["price"])
        floor[item["currency"]] = min(floor.get(item["currency"], price), price)
    return floor


def collection_stats(chain_id: int, collection: str, settings: Settings) -> CollectionStats:
    response = dynamo.client("dynamodb").get_item(
        TableName=settings.app_table, Key=dynamo.to_item(keys.nft_stats_key(chain_id, collection))
    )
    item = dynamo.from_item(response.get("Item", {}))
    labels = {"holders_1": "1", "holders_2_5": "2-5", "holders_6_20": "6-20", "holders_over_20": "over 20"}
    return CollectionStats(
        holders_by_size={label: max(int(item.get(name, 0)), 0) for name, label in labels.items()},
        held_days={int(name[len(HELD_PREFIX) :]): int(v) for name, v in item.items() if name.startswith(HELD_PREFIX)},
        flipper_holders=int(item.get(FLIPPER_HOLDERS, 0)),
    )
