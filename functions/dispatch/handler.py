"""Campaign dispatch: one page of a frozen audience per SQS message; on its schedule, starts due campaigns."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.campaigns.dispatch import parse_dispatch_job, run_dispatch_page, start_due
from shared.settings import Needs
from shared.tracing import observability, observed

logger, tracer, metrics = observability()
NEEDS = Needs("app_table", "dispatch_queue_url", "sends_queue_url")
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    job = parse_dispatch_job(record.body)
    following = run_dispatch_page(job, NEEDS.settings())
    logger.info("dispatch page done", extra={"campaign": job.campaign_id, "page": job.page, "more": bool(following)})


@observed(logger, tracer, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    started = start_due(NEEDS.settings())
    logger.info("scheduled campaigns started", extra={"campaigns": started})
    return {"started": started}
