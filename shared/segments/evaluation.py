"""Full evaluation of a new or edited segment over every wallet, one page per queue message.

Each message carries (segment, version, shard, page, start key). A page evaluates up to PAGE_SIZE
wallets of one score shard, writes their membership, and records progress with a condition on
the page number, so a redelivered message never counts twice. The next page is the next message.
"""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from shared.segments import wallets
from shared.segments.store import (
    EVAL_PROGRESS_CODEC,
    EvalProgress,
    SegmentDefinition,
    SegmentNotFound,
    get_segment,
    set_status,
)
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.transact import is_condition_failure

PAGE_SIZE = 200


class EvalJob(BaseModel):
    segment_id: str
    version: int
    shard: int = 0
    page: int = 0
    start_key: dict[str, Any] | None = None


def start_evaluation(definition: SegmentDefinition, settings: Settings) -> EvalJob:
    progress = EvalProgress(segment_id=definition.segment_id, version=definition.version, started_at=int(time.time()))
    _put_progress(progress, settings)
    job = EvalJob(segment_id=definition.segment_id, version=definition.version)
    enqueue(job, settings)
    return job


def enqueue(job: EvalJob, settings: Settings) -> None:
    if not settings.segment_eval_queue_url:
        raise RuntimeError("SEGMENT_EVAL_QUEUE_URL is not set: the segment cannot be evaluated")
    dynamo.client("sqs").send_message(QueueUrl=settings.segment_eval_queue_url, MessageBody=job.model_dump_json())


def _progress_item(progress: EvalProgress) -> dict[str, Any]:
    """The pages counted stand beside the document, so a write can be conditional on them."""
    key = keys.segment_eval_key(progress.segment_id, progress.version)
    return EVAL_PROGRESS_CODEC.encode(key, progress, pages=progress.pages)


def _put_progress(progress: EvalProgress, settings: Settings) -> None:
    dynamo.client("dynamodb").put_item(TableName=settings.app_table, Item=_progress_item(progress))


def evaluation_progress(segment_id: str, version: int, settings: Settings) -> EvalProgress | None:
    item = (
        dynamo.client("dynamodb")
        .get_item(
            TableName=settings.app_table,
            Key=dynamo.to_item(keys.segment_eval_key(segment_id, version)),
            ConsistentRead=True,
        )
        .get("Item")
    )
    return EVAL_PROGRESS_CODEC.decode(item) if item else None


def run_page(job: EvalJob, settings: Settings, now: int | None = None) -> EvalJob | None:
    """Evaluate one page; returns the next job (already enqueued), or None when the evaluation ended."""
    now = now or int(time.time())
    try:
        definition = get_segment(job.segment_id, settings)
    except SegmentNotFound:
        return None  # deleted meanwhile
    if definition.version != job.version:
        return None  # superseded by an edit, which started its own evaluation
    context = wallets.load_context(settings)
    # the list index may lag a just-created segment: this page's segment is always the one evaluated
    others = [s for s in context.segments if s.segment_id != definition.segment_id]
    context.segments = [*others, definition]
    addresses, next_key = wallets.shard_page(job.shard, PAGE_SIZE, job.start_key, settings)
    members = sum(_evaluate_member(address, definition, context, now) for address in addresses)
    latest = _record_page(job, len(addresses), members, settings)
    next_job = _next_job(job, next_key)
    if next_job is None:
        if latest:
            _finish(definition, settings, now)
        return None
    if latest:
        enqueue(next_job, settings)
    return next_job


def _evaluate_member(address: str, definition: SegmentDefinition, context: wallets.EvaluationContext, now: int) -> int:
    """The wallet's full evaluation (every segment, so its state stays whole); 1 if it is a member of this one."""
    outcome = wallets.evaluate_wallet(address, context, now)
    return int(outcome is not None and definition.segment_id in (outcome.state.segments or []))


def _next_job(job: EvalJob, last_key: dict[str, Any] | None) -> EvalJob | None:
    if last_key:
        return job.model_copy(update={"page": job.page + 1, "start_key": last_key})
    if job.shard + 1 < keys.SCORE_SHARDS:
        return job.model_copy(update={"page": job.page + 1, "shard": job.shard + 1, "start_key": None})
    return None


def _record_page(job: EvalJob, evaluated: int, members: int, settings: Settings) -> bool:
    """Add this page's counts exactly once. False when a redelivery finds the page already counted."""
    progress = evaluation_progress(job.segment_id, job.version, settings)
    if progress is None or progress.pages != job.page:
        return progress is not None and progress.pages == job.page + 1
    updated = progress.model_copy(
        update={
            "pages": job.page + 1,
            "evaluated": progress.evaluated + evaluated,
            "members": progress.members + members,
        }
    )
    try:
        dynamo.client("dynamodb").put_item(
            TableName=settings.app_table,
            Item=_progress_item(updated),
            ConditionExpression="pages = :p",
            ExpressionAttributeValues={":p": {"N": str(job.page)}},
        )
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise
        return False
    return True


def _finish(definition: SegmentDefinition, settings: Settings, now: int) -> None:
    progress = evaluation_progress(definition.segment_id, definition.version, settings)
    if progress is None:
        return
    if progress.state != "done":
        _put_progress(progress.model_copy(update={"state": "done", "finished_at": now}), settings)
    set_status(definition, "ready", progress.members, settings)


def parse_job(body: str) -> EvalJob:
    return EvalJob.model_validate(json.loads(body))
