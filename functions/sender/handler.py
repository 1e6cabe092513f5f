"""Campaign sender: each SQS message is one recipient; claimed before delivery, so never sent twice."""

from __future__ import annotations

from functools import partial
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.campaigns.dispatch import SendJob
from shared.campaigns.sender import RetryLater, postpone, process
from shared.campaigns.store import BatchReads
from shared.channels import get_channels_config
from shared.settings import Needs, Settings
from shared.tracing import observability, observed

logger, tracer, metrics = observability()
NEEDS = Needs("app_table", "sends_queue_url")
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord, reads: BatchReads, settings: Settings) -> None:
    job = SendJob.model_validate_json(record.body)
    attempt = int(record.attributes.approximate_receive_count)
    try:
        outcome = process(job, attempt, get_channels_config(), settings, reads=reads)
    except RetryLater as retry:
        postpone(record.receipt_handle, retry, settings)
        raise
    metrics.add_metric(name=f"Send_{outcome}", unit=MetricUnit.Count, value=1)


@observed(logger, tracer, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    settings = NEEDS.settings()
    handle = partial(record_handler, reads=BatchReads(settings), settings=settings)
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
