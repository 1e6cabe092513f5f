"""Evaluates a new or edited segment over every wallet, and the wallets a history replay left pending:
one page per SQS message, with progress."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.segments.evaluation import parse_job, run_page
from shared.segments.replay import parse_drain_job, run_drain
from shared.settings import Needs, get_settings
from shared.tracing import observability, observed

logger, tracer, metrics = observability()
NEEDS = Needs("app_table", "segment_eval_queue_url", "event_bus_name")
processor = BatchProcessor(event_type=EventType.SQS)
settings = get_settings()


def record_handler(record: SQSRecord) -> None:
    drain = parse_drain_job(record.body)
    if drain is not None:
        evaluated = run_drain(drain, settings, int(time.time()))
        logger.info("replayed wallets evaluated", extra={"shard": drain.shard, "wallets": evaluated})
        return
    job = parse_job(record.body)
    following = run_page(job, settings)
    logger.info("segment page evaluated", extra={"segment": job.segment_id, "page": job.page, "more": bool(following)})


@observed(logger, tracer, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    NEEDS.check(settings)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
