"""Keeps labels, churn states and segment membership live: runs for every change in a wallet's partition."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.segments.wallets import evaluate_wallets
from shared.settings import Needs, get_settings
from shared.store import dynamo, keys
from shared.tracing import observability, observed

logger, tracer, metrics = observability()
NEEDS = Needs("app_table", "event_bus_name")
settings = get_settings()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _wallets(records: Iterable[dict[str, Any]]) -> list[str]:
    """Any change in a wallet's partition (profile, holdings, lending positions and summary) re-derives
    that wallet (docs/architecture.md, "Flows"); records of other partitions carry no wallet."""
    pks = (str(dynamo.from_item(r["dynamodb"]["Keys"])["pk"]) for r in records)
    return [keys.wallet_of(pk) for pk in pks if pk.startswith(keys.WALLET_PREFIX)]


def record_handler(record: DynamoDBRecord) -> None:
    evaluate_wallets(_wallets([record.raw_event]), settings)


@observed(logger, tracer, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    NEEDS.check(settings)
    try:
        outcomes = evaluate_wallets(_wallets(event["Records"]), settings)
    except Exception:
        logger.exception("batch evaluation failed; evaluating record by record")
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    metrics.add_metric(name="WalletsEvaluated", unit=MetricUnit.Count, value=len(outcomes))
    metrics.add_metric(name="SegmentEntries", unit=MetricUnit.Count, value=sum(len(o.entered) for o in outcomes))
    metrics.add_metric(name="SegmentExits", unit=MetricUnit.Count, value=sum(len(o.exited) for o in outcomes))
    return {"batchItemFailures": []}
