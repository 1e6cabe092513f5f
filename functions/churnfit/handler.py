"""Nightly: refits the MBG/NBD churn model to every wallet's activity and stores it as a new version."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.intel import refit_churn_model

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    model = refit_churn_model()
    metrics.add_metric(name="ChurnModelWallets", unit=MetricUnit.Count, value=model.n_wallets)
    logger.info("churn model refit", extra={"model": model.model_dump()})
    return model.model_dump()
