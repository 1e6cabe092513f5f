"""Triggered campaigns: each segment.entered bus event (delivered through SQS) targets its wallet."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.campaigns.store import BatchReads
from shared.campaigns.triggers import fire, segment_trigger
from shared.settings import get_settings
from shared.tracing import TRACED_MODULES

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord, reads: BatchReads) -> None:
    event = json.loads(record.body)
    detail = event["detail"]
    segment_id, address = detail["segment_id"], detail["address"]
    occurrence = f"{segment_id}:{detail.get('at', event.get('time', ''))}"
    sends = fire(segment_trigger(segment_id), address, occurrence, {"segment_id": segment_id}, reads=reads)
    logger.info("segment trigger fired", extra={"segment": segment_id, "sends": sends})


@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    handle = partial(record_handler, reads=BatchReads(get_settings()))
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
