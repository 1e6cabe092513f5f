"""Opening a backfill job: its status and range items written, one SQS message per range queued.

The job's chain is given, not looked up, so adding a contract (shared.tracking) can open one below the
registry that the backfill worker (shared.backfill) reads; "Ingestion" in docs/architecture.md.
"""

from __future__ import annotations

import time
import uuid

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from shared.chain.reader import ChainReader, IngestOptions
from shared.settings import ChainConfig, Settings, TrackedContract
from shared.store.dynamo import batch_write, client, to_item
from shared.store.keys import backfill_range_key, backfill_status_key
from shared.store.queue import send_batch


class BackfillError(ValueError):
    """Bad backfill input; the message is meant for the operator as is."""


class RangeJob(BaseModel):
    job_id: str
    chain_id: int
    from_block: int = Field(ge=0)
    to_block: int = Field(ge=0)
    # a contract's backfill reads only its own logs; empty reads every contract the chain tracks
    contracts: list[TrackedContract] = Field(default_factory=list)


class BackfillStatus(BaseModel):
    job_id: str
    chain_id: int
    from_block: int
    to_block: int
    total_ranges: int
    done_ranges: int
    state: str

    @property
    def finished(self) -> bool:
        return self.state == "done"


def plan_ranges(from_block: int, to_block: int, range_size: int) -> list[tuple[int, int]]:
    if from_block < 0:
        raise BackfillError("--from must be >= 0")
    if from_block > to_block:
        raise BackfillError("--from must be <= --to")
    if range_size < 1:
        raise BackfillError("--range must be >= 1")
    return [(start, min(start + range_size - 1, to_block)) for start in range(from_block, to_block + 1, range_size)]


def confirmed_target(settings: Settings, chain: ChainConfig, options: IngestOptions | None = None) -> int:
    """The highest block of `chain` safe to ingest now (its head less confirmations, or `finalized`)."""
    reader = ChainReader(chain, settings, options)
    try:
        return reader.confirmed_target()[1]
    finally:
        reader.close()


def open_backfill(
    settings: Settings,
    chain: ChainConfig,
    from_block: int,
    to_block: int,
    range_size: int,
    job_id: str | None = None,
    options: IngestOptions | None = None,
    contracts: list[TrackedContract] | None = None,
) -> BackfillStatus:
    """Validate, write the status and range items, and enqueue one SQS message per range.

    With `contracts`, the jobs read only those contracts' logs (a newly tracked contract's history).
    """
    chain_id = chain.chain_id
    ranges = plan_ranges(from_block, to_block, range_size)
    if not settings.backfill_queue_url:
        raise BackfillError("BACKFILL_QUEUE_URL is not set: point it at the backfill queue")
    target = confirmed_target(settings, chain, options)
    if to_block > target:
        raise BackfillError(f"--to {to_block} is beyond chain {chain_id}'s confirmed head {target}")
    job_id = job_id or uuid.uuid4().hex[:12]
    status = BackfillStatus(
        job_id=job_id,
        chain_id=chain_id,
        from_block=from_block,
        to_block=to_block,
        total_ranges=len(ranges),
        done_ranges=0,
        state="running",
    )
    item = {
        **backfill_status_key(job_id),
        **status.model_dump(),
        "range_size": range_size,
        "created_at": int(time.time()),
        "contracts": [c.address for c in contracts] if contracts else None,
    }
    try:
        client("dynamodb").put_item(
            TableName=settings.app_table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise BackfillError(f"backfill job {job_id} already exists") from exc
        raise
    batch_write(
        settings.app_table,
        puts=[
            to_item(
                {**backfill_range_key(job_id, a), "job_id": job_id, "from_block": a, "to_block": b, "state": "queued"}
            )
            for a, b in ranges
        ],
    )
    only = list(contracts or [])
    jobs = [RangeJob(job_id=job_id, chain_id=chain_id, from_block=a, to_block=b, contracts=only) for a, b in ranges]
    send_batch(settings.backfill_queue_url, [j.model_dump_json() for j in jobs], what="backfill range jobs")
    return status
