"""Nightly: refits the MBG/NBD churn model and its risk layer to every wallet's activity, backtests the fit
on the last horizon, and stores both as a new version."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.intel import refit_churn_model
from shared.settings import Needs, get_settings
from shared.tracing import observability, observed

logger, tracer, metrics = observability()
NEEDS = Needs("app_table")
settings = get_settings()


@observed(logger, tracer, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    NEEDS.check(settings)
    model = refit_churn_model(settings)  # H is the labels.churn_horizon_days setting
    metrics.add_metric(name="ChurnModelWallets", unit=MetricUnit.Count, value=model.n_wallets)
    if model.backtest is not None and model.backtest.auc is not None:
        metrics.add_metric(name="ChurnBacktestAUC", unit=MetricUnit.NoUnit, value=model.backtest.auc)
        metrics.add_metric(name="ChurnBacktestBrier", unit=MetricUnit.NoUnit, value=model.backtest.brier)
    summary = model.model_dump(exclude={"risk_knots"})
    logger.info("churn model refit", extra={"model": summary})
    return summary
