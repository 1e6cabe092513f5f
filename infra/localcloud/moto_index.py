"""Answer moto's DynamoDB Query from the asked partition, on the base table and on every secondary index.

moto 5.2 answers a Query by sorting every item of the table (Table.all_items) and then keeping those
of the asked partition: O(table log table) per Query, however small the partition. Here Table.query
hands moto's own code just the candidates instead, through the all_items it calls once per Query:

- base table: the partition moto already keeps in `table.items[hash]`;
- index (GSI or LSI): a per-index map, index hash value -> {primary key: item}, of the items that
  carry the index's (first) hash attribute.

The candidates come sorted by primary key, exactly as all_items would list them, and are a superset of
what moto's index filter keeps (it still checks every hash attribute, the sort key's presence and the
key condition), so moto's sorting, key conditions, filters, projections, Limit and paging run unchanged
on the same sequence and produce the same answer. Scan still walks the table, as DynamoDB does.

Two costs of moto's Query grow with what a partition holds, and both are cut here without changing
an answer:
- The candidates of a partition are sorted once, then kept sorted until a write files a key into or
  out of it, with a key of plain values (DynamoType compares by its cast value, so the order is the
  same, without a Python-level comparison per pair).
- moto deep-copies a Query's page before projecting and filtering it, so nothing downstream can edit
  the stored items. Nothing does: an index's projection and a ProjectionExpression build new Items,
  the filter only reads, and the answer is serialised under the request lock (moto_patches), before
  any write can edit a stored Item in place. So a Query's page is handed on as a new list of the
  same items. The copy took about a fifth of the moto process's time while the local cloud caught up.

Keeping the index maps right: an item changes only through Table.put_item, Table.delete_item, and
DynamoDBBackend.update_item (which edits the stored Item in place, or puts a new one). After each of
them, whether it succeeded or raised, the written key is filed again from what the table now stores.
Everything else that writes (BatchWriteItem, TransactWriteItems and its rollback, PartiQL, imports)
goes through those three. A table's maps are built on its first index Query (an index dropped and
made again on other attributes gets a new one), kept in a WeakKeyDictionary (so a new, restored or
deep-copied table starts without any), let go when the table is deleted, and dropped, to be rebuilt,
whenever a write's key cannot be worked out or the table's item store was replaced.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import weakref
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator
from typing import Any

# Which path answered each Query: "partition" (base table), "index" (secondary index), "moto" (as is)
QUERIES: Counter[str] = Counter()

_ENABLED = True
_APPLIED = False
# Bucket for index values that cannot be hashed (a set, list or map where a key belongs): its items
# are candidates of every Query on the index, and moto's own filter sorts them out.
_UNHASHABLE = object()
_MISSING = object()
_hint = threading.local()


class _Index:
    """One secondary index of one table: hash value -> {primary key: item}, and each bucket's items in
    the index's order (its sort key, then the primary key), kept until a write changes the bucket.

    moto sorts the candidates by the index's keys again, stably: handed them in that order already, its
    sort only checks it, where it would otherwise compare DynamoTypes n log n times per Query."""

    def __init__(self, attr: str, range_attrs: list[str]) -> None:
        self.attr = attr
        self.range_attrs = range_attrs
        self.buckets: dict[Hashable, dict[Any, Any]] = {}
        self.filed: dict[Any, Hashable] = {}
        self.ordered: dict[Hashable, list[Any]] = {}

    def refile(self, key: Any, item: Any) -> None:
        old = self.filed.pop(key, _MISSING)
        if old is not _MISSING:
            self.ordered.pop(old, None)
            bucket = self.buckets[old]
            del bucket[key]
            if not bucket:
                del self.buckets[old]
        value = item.attrs.get(self.attr) if item is not None else None
        if value is not None:
            where = _bucket_key(value)
            self.ordered.pop(where, None)
            self.buckets.setdefault(where, {})[key] = item
            self.filed[key] = where

    def candidates(self, where: Hashable) -> list[Any]:
        found = self._in_order(where)
        unhashable = self._in_order(_UNHASHABLE)
        return sorted([*found, *unhashable], key=_primary_order) if unhashable else list(found)

    def _in_order(self, where: Hashable) -> list[Any]:
        found = self.ordered.get(where)
        if found is None:
            found = sorted(self.buckets.get(where, {}).values(), key=_primary_order)
            with contextlib.suppress(TypeError):  # sort values of mixed types: moto's own sort decides
                found.sort(key=self._index_order)
            self.ordered[where] = found
        return found

    def _index_order(self, item: Any) -> tuple[bool, tuple[Any, ...]]:
        values = [item.attrs.get(attr) for attr in self.range_attrs]
        if any(value is None for value in values):
            return True, ()  # not in the index's sort order at all: moto's key condition drops it
        return False, tuple(value.cast_value for value in values)


class _TableIndexes:
    def __init__(self, store: Any) -> None:
        self.store = store  # the table.items mapping these maps describe
        self.by_name: dict[str, _Index] = {}
        # base-table partitions in primary-key order, by hash value, until a write changes them
        self.partitions: dict[Any, list[Any]] = {}


_TABLES: weakref.WeakKeyDictionary[Any, _TableIndexes] = weakref.WeakKeyDictionary()


def _bucket_key(value: Any) -> Hashable:
    """A frozen stand-in for a DynamoType with DynamoType's own equality: same type, same cast value.

    An item's attribute can be edited in place by a later UpdateItem, so the bucket is never keyed by
    the DynamoType object itself."""
    key = (value.type, value.cast_value)
    try:
        hash(key)
    except TypeError:
        return _UNHASHABLE
    return key


def _primary_order(item: Any) -> Any:
    """Table.all_items' own sort key, (hash, range), as plain values: DynamoType orders by its cast
    value, and one table's key attributes all have one type."""
    if item.range_key:
        return item.hash_key.cast_value, item.range_key.cast_value
    return item.hash_key.cast_value


def _stored_items(table: Any) -> Iterable[Any]:
    from moto.dynamodb.models.dynamo_type import Item

    for partition in list(table.items.values()):
        found = partition.values() if table.range_key_attr else [partition]
        yield from (item for item in found if isinstance(item, Item))


def _stored(table: Any, key: tuple[Any, Any]) -> Any:
    from moto.dynamodb.models.dynamo_type import Item

    hash_value, range_value = key
    found = table.items.get(hash_value)
    if range_value is not None:
        found = found.get(range_value) if isinstance(found, dict) else None
    return found if isinstance(found, Item) else None


def _primary_key(table: Any, attrs: Any) -> tuple[Any, Any] | None:
    """The key moto files an item under, from an Item's attributes or a Key; None if there is none."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        hash_value = DynamoType(attrs[table.hash_key_attr])
        range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        hash(hash_value)
        hash(range_value)
    except Exception:
        return None
    return hash_value, range_value


def _refile(table: Any, key: tuple[Any, Any] | None) -> None:
    indexes = _TABLES.get(table)
    if indexes is None:
        return
    if key is None or indexes.store is not table.items:
        del _TABLES[table]
        return
    indexes.partitions.pop(key[0], None)
    item = _stored(table, key)
    for index in indexes.by_name.values():
        index.refile(key, item)


def _indexes(table: Any) -> _TableIndexes:
    indexes = _TABLES.get(table)
    if indexes is None or indexes.store is not table.items:
        indexes = _TABLES[table] = _TableIndexes(table.items)
    return indexes


def _index(table: Any, name: str, attr: str, range_attrs: list[str]) -> _Index:
    indexes = _indexes(table)
    index = indexes.by_name.get(name)
    if index is None or index.attr != attr or index.range_attrs != range_attrs:
        index = indexes.by_name[name] = _Index(attr, range_attrs)
        for item in _stored_items(table):
            index.refile((item.hash_key, item.range_key), item)
    return index


def _candidates(table: Any, hash_key: Any, index_name: str | None, hash_conditions: Any) -> list[Any] | None:
    """What Table.all_items should list for this Query, or None to let moto list the whole table."""
    from moto.dynamodb.models.dynamo_type import Item

    if index_name is None:
        if hash_key is None:
            return None
        partitions = _indexes(table).partitions
        try:
            found = partitions.get(hash_key)
            partition = table.items.get(hash_key) if found is None else None
        except TypeError:
            return None
        if found is None:
            if table.range_key_attr:
                stored = list(partition.values()) if isinstance(partition, dict) else []
            else:
                stored = [partition] if isinstance(partition, Item) else []
            found = partitions[hash_key] = sorted(stored, key=_primary_order)
        QUERIES["partition"] += 1
        return found
    index = next((each for each in table.all_indexes() if each.name == index_name), None)
    if index is None:
        return None
    hash_attrs = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
    wanted = dict(hash_conditions or []).get(hash_attrs[0]) if hash_attrs else None
    if wanted is None:
        return None
    where = _bucket_key(wanted)
    if where is _UNHASHABLE:
        return None
    QUERIES["index"] += 1
    range_attrs = [key["AttributeName"] for key in index.schema if key["KeyType"] == "RANGE"]
    return _index(table, index_name, hash_attrs[0], range_attrs).candidates(where)


@contextlib.contextmanager
def bypassed() -> Iterator[None]:
    """Queries inside answer through moto's own code, every item of the table (for comparisons).

    The maps of tables that have them are still kept up to date by writes inside."""
    global _ENABLED
    _ENABLED = False
    try:
        yield
    finally:
        _ENABLED = True


class _PageNotCopied:
    """moto's table module's `copy`, except that a Query's page is handed on as a new list of the same
    items (see the module's docstring for why nothing can edit them)."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if getattr(_hint, "querying", False) and type(value) is list:
            return list(value)
        return copy.deepcopy(value, memo)


def apply() -> None:
    global _APPLIED
    if _APPLIED:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_all_items = Table.all_items
    original_put = Table.put_item
    original_delete = Table.delete_item
    original_update = DynamoDBBackend.update_item
    original_delete_table = DynamoDBBackend.delete_table

    def all_items(self: Table) -> Any:
        given = getattr(_hint, "candidates", None)
        if given is not None and given[0] is self:
            return list(given[1])
        return original_all_items(self)

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        found = _candidates(self, hash_key, index_name, kwargs.get("hash_key_conditions")) if _ENABLED else None
        if found is None:
            QUERIES["moto"] += 1
            return original_query(self, hash_key, *args, **kwargs)
        _hint.candidates = (self, found)
        _hint.querying = True
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _hint.candidates = None
            _hint.querying = False

    def put_item(self: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        key = _primary_key(self, item_attrs)
        try:
            return original_put(self, item_attrs, *args, **kwargs)
        finally:
            _refile(self, key)

    def delete_item(self: Table, hash_key: Any, range_key: Any, *args: Any, **kwargs: Any) -> Any:
        key = (hash_key, range_key) if (range_key is not None) == self.has_range_key else None
        try:
            return original_delete(self, hash_key, range_key, *args, **kwargs)
        finally:
            _refile(self, key)

    def update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            table = self.get_table(table_name)
        except Exception:
            return original_update(self, table_name, key, *args, **kwargs)
        primary = _primary_key(table, key)
        try:
            return original_update(self, table_name, key, *args, **kwargs)
        finally:
            _refile(table, primary)

    def delete_table(self: DynamoDBBackend, name: str) -> Any:
        # moto keeps every model instance it ever made, deleted tables too: let their maps go
        table = original_delete_table(self, name)
        _TABLES.pop(table, None)
        return table

    table_module.copy = _PageNotCopied()  # type: ignore[assignment]
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]
    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    DynamoDBBackend.delete_table = delete_table  # type: ignore[method-assign]
    _APPLIED = True
