"""Applies each Events-table stream record (an event, or a reorg's rollback) to wallet profiles exactly once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.profiles.store import apply_change
from shared.profiles.stream import change_of

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    images = record.raw_event["dynamodb"]
    old, new = change_of(images.get("OldImage"), images.get("NewImage"))
    apply_change(old, new)
    metrics.add_metric(name="RollbacksApplied" if new is None else "EventsApplied", unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
