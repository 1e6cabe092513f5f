"""Backfill: a long block range split into SQS range jobs, drained by the same fetch/decode/write code.

A job has a status item (total ranges, done ranges, state) and one item per range. A range job is
idempotent (event keys are), never touches the chain cursor, and counts itself done exactly once:
the status update adds the range's id to a string set under `NOT contains(...)`, so a redelivered
or re-run message cannot count twice, even if it dies between marking its range and the status.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from shared.chain.jobs import (
    BackfillError,
    BackfillStatus,
    RangeJob,
    confirmed_target,
    open_backfill,
    plan_ranges,
)
from shared.chain.ranges import AdaptiveRange
from shared.chain.reader import ChainReader, IngestOptions
from shared.chain.writes import write_events
from shared.settings import Settings
from shared.store.dynamo import client, from_item, to_item
from shared.store.keys import backfill_range_key, backfill_status_key
from shared.tracking import CHAIN_CACHE_S, tracked_chain

__all__ = [
    "BackfillError",
    "BackfillStatus",
    "RangeJob",
    "RangeOutcome",
    "backfill_status",
    "confirmed_target",
    "drain_queue",
    "mark_range_done",
    "open_backfill",
    "plan_ranges",
    "run_range_job",
]

logger = logging.getLogger("kith.backfill")


@dataclass
class RangeOutcome:
    events: int
    malformed: int
    counted: bool  # False when a previous delivery had already counted this range


def run_range_job(job: RangeJob, settings: Settings, options: IngestOptions | None = None) -> RangeOutcome:
    """Fetch, decode and write one range (in sub-ranges the node accepts), then count it done once."""
    if job.from_block > job.to_block:
        raise BackfillError(f"range job {job.job_id}: from_block > to_block")
    chain = tracked_chain(settings, job.chain_id, max_age_s=CHAIN_CACHE_S)
    if job.contracts:
        chain = chain.model_copy(update={"contracts": job.contracts, "every_token": False})
    reader = ChainReader(chain, settings, options)
    ranger = AdaptiveRange(chain.max_range, chain.max_range)
    events = malformed = 0
    try:
        next_from = job.from_block
        while next_from <= job.to_block:
            fetched = reader.fetch(next_from, job.to_block, ranger)
            decoded = reader.decode(fetched)
            write_events(settings.events_table, decoded.events, reader.options.write_workers)
            events += len(decoded.events)
            malformed += decoded.malformed
            next_from = fetched.to_block + 1
    finally:
        reader.close()
    counted = mark_range_done(settings.app_table, job, events)
    return RangeOutcome(events=events, malformed=malformed, counted=counted)


def mark_range_done(app_table: str, job: RangeJob, events: int) -> bool:
    dynamodb = client("dynamodb")
    dynamodb.update_item(
        TableName=app_table,
        Key=to_item(backfill_range_key(job.job_id, job.from_block)),
        UpdateExpression="SET #s = :done, events = :events, finished_at = :now",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues=to_item({":done": "done", ":events": events, ":now": int(time.time())}),
    )
    range_id = f"{job.from_block:012d}"
    try:
        answer = dynamodb.update_item(
            TableName=app_table,
            Key=to_item(backfill_status_key(job.job_id)),
            UpdateExpression="ADD done_ranges :one, done_ids :ids SET updated_at = :now",
            ConditionExpression=(
                "attribute_exists(pk) AND (attribute_not_exists(done_ids) OR NOT contains(done_ids, :id))"
            ),
            ExpressionAttributeValues=to_item(
                {":one": 1, ":ids": {range_id}, ":id": range_id, ":now": int(time.time())}
            ),
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False  # counted by an earlier delivery
        raise
    values = from_item(answer["Attributes"])
    if values["done_ranges"] >= values["total_ranges"]:
        try:
            dynamodb.update_item(
                TableName=app_table,
                Key=to_item(backfill_status_key(job.job_id)),
                UpdateExpression="SET #s = :done, finished_at = :now",
                ConditionExpression="done_ranges = total_ranges",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=to_item({":done": "done", ":now": int(time.time())}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
    return True


def backfill_status(app_table: str, job_id: str) -> BackfillStatus:
    answer = client("dynamodb").get_item(
        TableName=app_table, Key=to_item(backfill_status_key(job_id)), ConsistentRead=True
    )
    if "Item" not in answer:
        raise BackfillError(f"no backfill job {job_id}")
    return BackfillStatus.model_validate(from_item(answer["Item"]))


def drain_queue(settings: Settings, options: IngestOptions | None = None, idle_polls: int = 1) -> int:
    """Process backfill messages in this process (no local cloud running); returns messages handled.

    Messages are deleted only after their range is done, so a crash leaves them for redelivery.
    """
    sqs = client("sqs")
    handled = idle = 0
    while idle < idle_polls:
        answer = sqs.receive_message(
            QueueUrl=settings.backfill_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=120
        )
        messages = answer.get("Messages", [])
        if not messages:
            idle += 1
            continue
        idle = 0
        for message in messages:
            run_range_job(RangeJob.model_validate(json.loads(message["Body"])), settings, options)
            sqs.delete_message(QueueUrl=settings.backfill_queue_url, ReceiptHandle=message["ReceiptHandle"])
            handled += 1
    return handled
