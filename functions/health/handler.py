"""Re-evaluates borrowers' health factors on lending-pool and oracle events; alerts on band crossings."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.lending.stream import process_images
from shared.settings import Needs
from shared.tracing import observability, observed

logger, tracer, metrics = observability()
NEEDS = Needs("events_table", "app_table", "event_bus_name")


@observed(logger, tracer, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Every step is idempotent (position markers, block-guarded health records, ALERT# records, fire()
    # per occurrence), so a failed batch is retried whole: evaluations must run in block order, which
    # a partial retry of the records after a failure would not keep.
    records = event["Records"]
    images = ((r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in records)
    outcome = process_images(images, NEEDS.settings())
    metrics.add_metric(name="HealthEvaluations", unit=MetricUnit.Count, value=outcome.evaluations)
    metrics.add_metric(name="LendingAlerts", unit=MetricUnit.Count, value=outcome.recorded.alerts)
    metrics.add_metric(name="LendingAlertsFired", unit=MetricUnit.Count, value=outcome.recorded.fired)
    metrics.add_metric(name="StaleEvaluations", unit=MetricUnit.Count, value=outcome.recorded.stale)
    logger.info("health batch", extra={"records": outcome.records, "evaluations": outcome.evaluations})
    return {"batchItemFailures": []}
