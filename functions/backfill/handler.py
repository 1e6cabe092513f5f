"""Backfill worker: ingests one historical block-range job per SQS message, reporting failures per item."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.backfill import RangeJob, run_range_job
from shared.settings import Needs, get_settings
from shared.tracing import observability, observed

logger, tracer, metrics = observability()
NEEDS = Needs("events_table", "app_table", "backfill_queue_url")
processor = BatchProcessor(event_type=EventType.SQS)
copy_config_to_registered_loggers(source_logger=logger, include={"kith.ingest", "kith.backfill"})
settings = get_settings()


@tracer.capture_method(capture_response=False, capture_error=False)
def record_handler(record: SQSRecord) -> None:
    outcome = run_range_job(RangeJob.model_validate_json(record.body), settings)
    metrics.add_metric(name="BackfillRanges", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Events", unit=MetricUnit.Count, value=outcome.events)
    metrics.add_metric(name="MalformedLogs", unit=MetricUnit.Count, value=outcome.malformed)


@observed(logger, tracer, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    NEEDS.check(settings)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
