"""/churn: the churn model the wallets' risk comes from, and how well it did on this community's own history."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, Field

from shared import churn
from shared.intel import load_churn_model
from shared.settings import get_settings

router = Router()


class ChurnModelView(BaseModel):
    version: int
    kind: str = Field(description="mbg_nbd, or mbg_nbd_prior when the community was too small to fit")
    fitted_at: int
    n_wallets: int
    time_unit_days: float
    params: churn.ChurnParams = Field(description="MBG/NBD parameters (alpha in time_unit_days units)")
    horizon_days: float = Field(description="H: a wallet's churn_risk is P(no activity in the next H days)")
    configured_horizon_days: int = Field(
        description="the labels.churn_horizon_days setting: the H the next nightly refit fits and backtests"
    )
    risk_threshold: float | None = Field(
        description="a wallet active within dormant_days is at risk when its churn_risk reaches this; null until "
        "the community's history spans two horizons (one to fit, one to calibrate the flag on), and then "
        "P(alive) < labels.at_risk_p_alive decides"
    )
    layer: churn.ChurnLayer | None = Field(description="the backtest-fitted recalibration of P(alive), if any")
    risk_deciles: list[float] | None = Field(
        description="the fitted wallets' churn_risk at percentiles 0, 10, ..., 100"
    )
    backtest: churn.ChurnBacktest | None = Field(
        description="the model refitted H days ago against what then happened: AUC, Brier score and "
        "predicted vs observed silence per decile of risk; null until the community has enough history"
    )


@router.get("/churn/model", summary="The churn model, its risk threshold and its calibration", tags=["churn"])
def churn_model() -> ChurnModelView:
    settings = get_settings()
    model = load_churn_model(settings)
    knots = model.risk_knots
    return ChurnModelView(
        version=model.version,
        kind=model.kind,
        fitted_at=model.fitted_at,
        n_wallets=model.n_wallets,
        time_unit_days=model.time_unit_days,
        params=model.params,
        horizon_days=model.horizon_days,
        configured_horizon_days=settings.labels.churn_horizon_days,
        risk_threshold=model.risk_threshold,
        layer=model.layer,
        risk_deciles=[knots[round(i * (len(knots) - 1) / 10)] for i in range(11)] if knots else None,
        backtest=model.backtest,
    )
