"""Writing decoded events to the Events table, and deleting those a reorg orphaned.

"Ingestion" in docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.chain.codec import event_to_item
from shared.chain.decode import Event
from shared.chain.reader import InjectedCrash
from shared.store.dynamo import BATCH_WRITE_LIMIT, batch_write, from_item, to_item
from shared.store.keys import PK, SK, event_pk
from shared.store.paging import query_all


def write_events(events_table: str, events: Sequence[Event], workers: int = 4, crash_midway: bool = False) -> int:
    """BatchWriteItem in parallel chunks; returns the number of requests. Re-puts are harmless."""
    items = [event_to_item(e) for e in events]
    chunks = [items[i : i + BATCH_WRITE_LIMIT] for i in range(0, len(items), BATCH_WRITE_LIMIT)]
    if crash_midway:
        batch_write(events_table, (item for chunk in chunks[: max(1, len(chunks) // 2)] for item in chunk))
        raise InjectedCrash("mid_write")
    if len(chunks) <= 1 or workers <= 1:
        return sum(batch_write(events_table, chunk) for chunk in chunks)
    with ThreadPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
        return sum(pool.map(lambda chunk: batch_write(events_table, chunk), chunks))


def block_event_keys(events_table: str, chain_id: int, block_number: int) -> list[dict[str, Any]]:
    """Keys and block hashes of every stored event of one block (access pattern E2)."""
    return list(
        query_all(
            events_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=to_item({":pk": event_pk(chain_id, block_number)}),
            ProjectionExpression="pk, sk, block_hash",
            ConsistentRead=True,
        )
    )


def delete_orphaned(
    events_table: str, chain_id: int, blocks: Iterable[int], canonical: Mapping[int, str] | None = None
) -> int:
    """Delete stored events of `blocks` (all of them, or those whose hash is not `canonical[block]`)."""
    doomed: list[dict[str, Any]] = []
    for number in blocks:
        keep = canonical.get(number) if canonical is not None else None
        for item in block_event_keys(events_table, chain_id, number):
            if keep is None or from_item({"h": item.get("block_hash", {"S": ""})})["h"] != keep:
                doomed.append({PK: item[PK], SK: item[SK]})
    if doomed:
        batch_write(events_table, deletes=doomed)
    return len(doomed)
