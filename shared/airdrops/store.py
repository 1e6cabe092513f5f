"""Airdrop items: the immutable snapshot, its recipient pages and its distributor link (keys AD1 to AD4).

A snapshot is written pages first, then its header with `attribute_not_exists`: the header is the
commit, so a snapshot whose writer died half-way is invisible (its orphaned pages are never read), and
no snapshot is ever overwritten. A distributor is linked once, by the same condition.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from shared.airdrops.model import AirdropSnapshot, Distributor, RecipientPage
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.codec import DocCodec
from shared.store.paging import query_all

SNAPSHOT_CODEC = DocCodec(AirdropSnapshot)
PAGE_CODEC = DocCodec(RecipientPage)
DISTRIBUTOR_CODEC = DocCodec(Distributor)
# 1000 rows of a 42-character address and a 78-digit amount stay far below DynamoDB's 400 KB item
PAGE_SIZE = 1000


class SnapshotNotFound(LookupError):
    pass


class AlreadyLinked(RuntimeError):
    pass


def _db() -> Any:
    return dynamo.client("dynamodb")


def _put_once(table: str, item: dict[str, Any]) -> bool:
    try:
        _db().put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def paged(rows: list[tuple[str, int]]) -> list[RecipientPage]:
    return [
        RecipientPage(rows=[(a, str(n)) for a, n in rows[start : start + PAGE_SIZE]])
        for start in range(0, len(rows), PAGE_SIZE)
    ]


def write_snapshot(snapshot: AirdropSnapshot, pages: list[RecipientPage], settings: Settings) -> None:
    dynamo.batch_write(
        settings.app_table,
        puts=[PAGE_CODEC.encode(keys.airdrop_page_key(snapshot.snapshot_id, i), p) for i, p in enumerate(pages)],
    )
    listed = keys.airdrops_of_segment_gsi(snapshot.segment_id, snapshot.created_at, snapshot.snapshot_id)
    header = SNAPSHOT_CODEC.encode({**keys.airdrop_key(snapshot.snapshot_id), **listed}, snapshot)
    if not _put_once(settings.app_table, header):
        raise RuntimeError(f"snapshot {snapshot.snapshot_id} exists already; snapshots are never overwritten")


def get_snapshot(snapshot_id: str, settings: Settings) -> AirdropSnapshot:
    key = dynamo.to_item(keys.airdrop_key(snapshot_id))
    item = _db().get_item(TableName=settings.app_table, Key=key).get("Item")
    if item is None:
        raise SnapshotNotFound(snapshot_id)
    return SNAPSHOT_CODEC.decode(item)


def snapshots_of_segment(segment_id: str, settings: Settings) -> list[AirdropSnapshot]:
    found = query_all(
        settings.app_table,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.airdrops_of_segment_partition(segment_id)}},
    )
    return [SNAPSHOT_CODEC.decode(item) for item in found]


def recipient_page(snapshot: AirdropSnapshot, page: int, settings: Settings) -> RecipientPage:
    key = dynamo.to_item(keys.airdrop_page_key(snapshot.snapshot_id, page))
    item = _db().get_item(TableName=settings.app_table, Key=key).get("Item")
    if item is None:
        raise SnapshotNotFound(f"{snapshot.snapshot_id} page {page}")
    return PAGE_CODEC.decode(item)


def recipients(snapshot: AirdropSnapshot, settings: Settings) -> list[tuple[str, int]]:
    """Every (address, amount) of a snapshot, in its stored order (batched reads, 100 pages a request)."""
    wanted = [dynamo.to_item(keys.airdrop_page_key(snapshot.snapshot_id, i)) for i in range(snapshot.pages)]
    by_sk: dict[str, RecipientPage] = {}
    for item in dynamo.batch_get(settings.app_table, wanted):
        by_sk[dynamo.from_item(item)[keys.SK]] = PAGE_CODEC.decode(item)
    rows: list[tuple[str, int]] = []
    for i in range(snapshot.pages):
        page = by_sk.get(keys.airdrop_page_key(snapshot.snapshot_id, i)[keys.SK])
        if page is None:
            raise SnapshotNotFound(f"{snapshot.snapshot_id} page {i}")
        rows.extend((a, int(n)) for a, n in page.rows)
    return rows


def link_distributor(distributor: Distributor, settings: Settings) -> None:
    item = DISTRIBUTOR_CODEC.encode(keys.airdrop_distributor_key(distributor.snapshot_id), distributor)
    if not _put_once(settings.app_table, item):
        raise AlreadyLinked(f"snapshot {distributor.snapshot_id} has its distributor already")


def distributor_of(snapshot_id: str, settings: Settings) -> Distributor | None:
    key = dynamo.to_item(keys.airdrop_distributor_key(snapshot_id))
    item = _db().get_item(TableName=settings.app_table, Key=key).get("Item")
    return DISTRIBUTOR_CODEC.decode(item) if item is not None else None
