"""Hourly: re-evaluates only the wallets whose due date (dormancy, P(alive), a time-based rule) has come."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.segments.wallets import sweep
from shared.settings import Needs, get_settings
from shared.tracing import observability, observed

logger, tracer, metrics = observability()
NEEDS = Needs("app_table", "event_bus_name")
settings = get_settings()


@observed(logger, tracer, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    NEEDS.check(settings)
    evaluated = sweep(settings, time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="WalletsSwept", unit=MetricUnit.Count, value=evaluated)
    logger.info("sweep finished", extra={"evaluated": evaluated})
    return {"evaluated": evaluated}
