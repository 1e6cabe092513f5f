"""Hourly: re-evaluates only the wallets whose due date (dormancy, P(alive), a time-based rule) has come."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.segments.wallets import sweep
from shared.settings import get_settings
from shared.tracing import TRACED_MODULES

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()
settings = get_settings()


@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    evaluated = sweep(settings, time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="WalletsSwept", unit=MetricUnit.Count, value=evaluated)
    logger.info("sweep finished", extra={"evaluated": evaluated})
    return {"evaluated": evaluated}
