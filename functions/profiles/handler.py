"""Applies each Events-table stream record (an event, or a reorg's rollback) to wallet profiles exactly once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.campaigns.conversions import credit_changes
from shared.profiles.store import apply_change
from shared.profiles.stream import apply_images, change_of
from shared.settings import Needs
from shared.tracing import observability, observed

logger, tracer, metrics = observability()
NEEDS = Needs("events_table", "app_table")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    images = record.raw_event["dynamodb"]
    change = change_of(images.get("OldImage"), images.get("NewImage"))
    apply_change(*change, NEEDS.settings())
    credit_changes([change], NEEDS.settings())


@observed(logger, tracer, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    settings = NEEDS.settings()
    records = event["Records"]
    try:
        images = [(r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in records]
        applied = apply_images(images, settings)
        credited = credit_changes((change_of(old, new) for old, new in images), settings)
        metrics.add_metric(name="RecordsApplied", unit=MetricUnit.Count, value=applied)
        metrics.add_metric(name="ConversionsCredited", unit=MetricUnit.Count, value=credited)
        return {"batchItemFailures": []}
    except Exception:
        # every write is idempotent, so redoing the batch record by record is safe, and it isolates
        # a poison record for ReportBatchItemFailures
        logger.exception("batch fast path failed; applying record by record")
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
