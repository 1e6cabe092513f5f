"""Keeps labels, churn states and segment membership live: runs for every change in a wallet's partition."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.segments.replay import WalletChange, defer, route
from shared.segments.wallets import Outcome, evaluate_wallets
from shared.settings import Needs, get_settings
from shared.store import dynamo, keys
from shared.tracing import observability, observed

logger, tracer, metrics = observability()
NEEDS = Needs("app_table", "event_bus_name", "segment_eval_queue_url")
settings = get_settings()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _changes(records: Iterable[dict[str, Any]]) -> list[WalletChange]:
    """Any change in a wallet's partition (profile, tags, lending positions and health) re-derives
    that wallet (docs/architecture.md, "Flows"); records of other partitions carry no wallet."""
    changes = []
    for record in records:
        item_key = dynamo.from_item(record["dynamodb"]["Keys"])
        pk, sk = str(item_key["pk"]), str(item_key["sk"])
        if pk.startswith(keys.WALLET_PREFIX):
            changes.append(WalletChange(keys.wallet_of(pk), keys.wallet_item_kind(sk)))
    return changes


def _evaluate(records: Iterable[dict[str, Any]]) -> tuple[int, list[Outcome]]:
    """Replayed wallets wait for the replay to go quiet (docs/architecture.md, "History replay")."""
    now = int(time.time())
    routed = route(_changes(records), now, settings)
    deferred = defer(routed.replayed, now, settings)
    return deferred, evaluate_wallets(routed.live, settings)


def record_handler(record: DynamoDBRecord) -> None:
    _evaluate([record.raw_event])


@observed(logger, tracer, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    NEEDS.check(settings)
    try:
        marked, outcomes = _evaluate(event["Records"])
    except Exception:
        logger.exception("batch evaluation failed; evaluating record by record")
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    metrics.add_metric(name="WalletsEvaluated", unit=MetricUnit.Count, value=len(outcomes))
    metrics.add_metric(name="ReplayedWalletsMarked", unit=MetricUnit.Count, value=marked)
    metrics.add_metric(name="SegmentEntries", unit=MetricUnit.Count, value=sum(len(o.entered) for o in outcomes))
    metrics.add_metric(name="SegmentExits", unit=MetricUnit.Count, value=sum(len(o.exited) for o in outcomes))
    return {"batchItemFailures": []}
