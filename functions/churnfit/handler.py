"""Nightly: refits the MBG/NBD churn model and its risk layer to every wallet's activity, backtests the fit
on the last horizon, and stores both as a new version."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.intel import refit_churn_model
from shared.settings import get_settings
from shared.tracing import TRACED_MODULES

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()
settings = get_settings()


@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    model = refit_churn_model(settings)  # H is the labels.churn_horizon_days setting
    metrics.add_metric(name="ChurnModelWallets", unit=MetricUnit.Count, value=model.n_wallets)
    if model.backtest is not None and model.backtest.auc is not None:
        metrics.add_metric(name="ChurnBacktestAUC", unit=MetricUnit.NoUnit, value=model.backtest.auc)
        metrics.add_metric(name="ChurnBacktestBrier", unit=MetricUnit.NoUnit, value=model.backtest.brier)
    summary = model.model_dump(exclude={"risk_knots"})
    logger.info("churn model refit", extra={"model": summary})
    return summary
