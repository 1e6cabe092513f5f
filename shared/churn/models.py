"""The churn model's records: MBG/NBD parameters, the risk layer, the backtest and the stored model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    FloatArray = NDArray[np.float64]


DAY = 86_400
DEFAULT_HORIZON_DAYS = 30.0
ModelName = Literal["mbg_nbd", "bg_nbd"]
ModelKind = Literal["mbg_nbd", "mbg_nbd_prior"]

# Below this many wallets the four-parameter MLE is mostly noise (and often sits on a boundary of the
# parameter space), so the prior is the better estimate.
MIN_WALLETS = 20
# The store writes due dates as 12-digit zero-padded unix seconds (docs/architecture.md, "Key shapes"); anything later
# would break the lexicographic order of the GSI, and is "never" for any practical purpose.
MAX_DUE_UNIX = 999_999_999_999
# Fitted log-parameters (on the rescaled time axis) outside this box mean the likelihood ran off to a
# boundary: the data cannot identify the model, so the prior is used instead.
_LOG_PARAM_BOUND = 12.0


class ChurnParams(BaseModel):
    """r, alpha: Gamma(shape r, rate alpha) transaction rates; a, b: Beta(a, b) dropout probabilities."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    r: float = Field(gt=0)
    alpha: float = Field(gt=0)
    a: float = Field(gt=0)
    b: float = Field(gt=0)

    def rescaled(self, factor: float) -> ChurnParams:
        """The same model on a time axis whose unit is `factor` times smaller (alpha is a time)."""
        return self.model_copy(update={"alpha": self.alpha * factor})


# lifetimes' MBG/NBD fit of the CDNOW summary (weeks), reproduced by tests/unit/test_churn_model.py. It is the
# fallback when a population is too small or too degenerate to fit; only alpha depends on the time unit.
PRIOR_PARAMS_WEEKS = ChurnParams(r=0.525, alpha=6.183, a=0.891, b=1.614)


class ChurnLayer(BaseModel):
    """The backtest's recalibration of the MBG/NBD, in two parts (``risk_from_summary``):

        logit P'(alive) = intercept + alive_logit * logit P(alive) + log_frequency * log(1 + x)
                          + log_overdue * log(1 + s / g) + log_silence * log(1 + s)
        log Q' = log Q * exp(regularity * gap_regularity)

    where s is the days since the last activity, g the wallet's mean gap between active days with one
    pseudo-gap of `prior_gap_days` ((t_x + prior_gap_days) / (x + 1), in days), Q = E[exp(-lambda H) |
    alive, history] the model's chance that an alive wallet stays silent for H, and the risk is
    1 - P'(alive) (1 - Q'). Silence counts in the wallet's own gaps, so a wallet paid once a month is not
    overdue after three weeks; with regularity > 0 a wallet whose gaps are clockwork is busier than the
    Poisson arrivals say. log_silence, silence in days, is kept for the layers fitted with it and fitted as 0.

    alive_logit >= 0, log_overdue <= 0 and log_silence <= 0 keep P'(alive) decreasing with silence, and
    neither g nor the regularity change while a wallet is silent, so the risk still only grows while
    nothing happens and its crossing date can be found by bisection. The identity layer has alive_logit 1
    and every other coefficient 0; layers stored before a term load with it at 0.
    """

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    intercept: float
    alive_logit: float = Field(ge=0)
    log_frequency: float
    log_silence: float = Field(default=0.0, le=0)
    log_overdue: float = Field(default=0.0, le=0)
    prior_gap_days: float = Field(default=30.0, gt=0, description="the pseudo-gap of the mean gap g: H at the fit")
    regularity: float = Field(default=0.0, description="log-multiplier of the expected activity per unit of regularity")
    trained_cut: int = Field(description="unix second of the backtest's feature cut")
    trained_horizon_days: float = Field(gt=0, description="label window of the backtest: silent in (cut, cut + this]")
    n_wallets: int = Field(ge=0)
    silent_rate: float = Field(ge=0, le=1, description="observed share of the backtest's wallets that stayed silent")
    log_loss: float = Field(ge=0, description="mean log-loss of the fitted layer on its backtest")


class CalibrationBin(BaseModel):
    """One decile of predicted risk in a backtest: how many wallets, what was predicted, what happened."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    lower: float = Field(description="smallest predicted risk in the bin")
    upper: float = Field(description="largest predicted risk in the bin")
    n_wallets: int = Field(ge=0)
    predicted: float = Field(description="mean predicted probability of silence")
    observed: float = Field(description="share that really stayed silent")


class ChurnBacktest(BaseModel):
    """A model fitted on the activity up to `cut`, scored at `cut`, against what happened in the next
    `horizon_days`: how well the risk ranks (AUC, recency's AUC for comparison), how honest its
    probabilities are (Brier score, calibration per decile), and what the at-risk flag would have caught."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    cut: int = Field(description="unix second of the cut (a UTC midnight)")
    horizon_days: float = Field(gt=0)
    n_wallets: int = Field(ge=0, description="wallets seen before the cut")
    silent_rate: float = Field(ge=0, le=1, description="share that had no activity in (cut, cut + horizon]")
    auc: float | None = Field(description="P(a silent wallet is ranked riskier than an active one); 0.5 is chance")
    recency_auc: float | None = Field(description="the same for ranking by days since the last activity")
    brier: float = Field(ge=0, description="mean squared error of the predicted probability of silence")
    flagged_share: float = Field(ge=0, le=1, description="share the at-risk flag would have raised at the cut")
    precision: float | None = Field(description="share of the flagged wallets that really stayed silent")
    flag_base_rate: float | None = Field(
        default=None,
        description="share of the wallets the flag could raise (active within dormant_days at the cut) that stayed "
        "silent: the precision of flagging all of them",
    )
    calibration: list[CalibrationBin] = Field(description="predicted vs observed silence per decile of risk")
    model_kind: str = Field(description="kind of the model fitted at the cut")


class ChurnModel(BaseModel):
    """One nightly fit: what the profiles function and the sweep read. Times are in `time_unit_days` days.

    kind "mbg_nbd_prior" means the population could not be fitted and `params` are PRIOR_PARAMS_WEEKS
    rescaled to the unit; `log_likelihood` is then the prior's log-likelihood on that population (0.0 if empty).

    The risk fields are optional so that models stored before the risk existed still load: without a
    `risk_threshold` the at-risk flag falls back to P(alive) < the configured threshold (also the case until
    the community's history spans two horizons, ``fit_churn``), without a `layer` the risk is the MBG/NBD's
    own, without `risk_knots` no percentile is given.
    """

    model_config = ConfigDict(frozen=True)

    kind: ModelKind
    version: int = Field(ge=1)
    fitted_at: int
    time_unit_days: float = Field(gt=0)
    params: ChurnParams
    n_wallets: int = Field(ge=0)
    log_likelihood: float
    horizon_days: float = Field(default=30.0, gt=0, description="H of the risk: P(no activity in the next H days)")
    layer: ChurnLayer | None = None
    risk_threshold: float | None = Field(default=None, gt=0, lt=1, description="at risk when risk >= this")
    risk_knots: list[float] | None = Field(
        default=None, description="the fitted population's risk at percentiles 0, 1, ..., 100 (non-decreasing)"
    )
    backtest: ChurnBacktest | None = None


@dataclass(frozen=True)
class FitResult:
    params: ChurnParams
    log_likelihood: float  # total (weighted), not per customer
    n: float  # sum of weights
    converged: bool
