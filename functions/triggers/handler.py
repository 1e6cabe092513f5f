"""Triggered campaigns: each bus event (delivered through SQS) targets its wallet.

`segment.entered` targets the wallet for the campaigns on that segment, `lending.band` for the campaigns
on lending alerts (docs/architecture.md, "Events").
"""

from __future__ import annotations

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.campaigns.store import BatchReads
from shared.campaigns.triggers import fire, segment_trigger
from shared.lending.health import TRIGGER as LENDING_BAND
from shared.settings import Needs, Settings
from shared.tracing import observability, observed

logger, tracer, metrics = observability()
NEEDS = Needs("app_table", "sends_queue_url")
processor = BatchProcessor(event_type=EventType.SQS)
SEGMENT_ENTERED = "segment.entered"


class KithEvent(EventBridgeModel):
    detail: dict[str, Any]


def record_handler(record: SQSRecord, reads: BatchReads, settings: Settings) -> None:
    event = KithEvent.model_validate_json(record.body)
    detail = event.detail
    if event.detail_type == SEGMENT_ENTERED:
        segment_id, address = detail["segment_id"], detail["address"]
        occurrence = f"{segment_id}:{detail.get('at', event.time.strftime('%Y-%m-%dT%H:%M:%SZ'))}"
        trigger, context = segment_trigger(segment_id), {"segment_id": segment_id}
    elif event.detail_type == LENDING_BAND:
        address, occurrence, context = detail["address"], detail["occurrence"], detail["context"]
        trigger = LENDING_BAND
    else:
        raise ValueError(f"triggers: no reaction to {event.detail_type!r}")
    sends = fire(trigger, address, occurrence, context, settings=settings, reads=reads)
    logger.info("trigger fired", extra={"trigger": trigger, "sends": sends})


@observed(logger, tracer, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    settings = NEEDS.settings()
    handle = partial(record_handler, reads=BatchReads(settings), settings=settings)
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
