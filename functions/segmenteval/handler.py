"""Evaluates a new or edited segment over every wallet: one page per SQS message, with progress."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.segments.evaluation import parse_job, run_page
from shared.settings import Needs, get_settings
from shared.tracing import observability, observed

logger, tracer, metrics = observability()
NEEDS = Needs("app_table", "segment_eval_queue_url", "event_bus_name")
processor = BatchProcessor(event_type=EventType.SQS)
settings = get_settings()


def record_handler(record: SQSRecord) -> None:
    job = parse_job(record.body)
    following = run_page(job, settings)
    logger.info("segment page evaluated", extra={"segment": job.segment_id, "page": job.page, "more": bool(following)})


@observed(logger, tracer, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    NEEDS.check(settings)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
