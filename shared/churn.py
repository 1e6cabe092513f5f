"""Wallet churn: P(alive) under MBG/NBD, the date it crosses the at-risk threshold, and the nightly refit.

docs/architecture.md, "Profiles, scores and rules": a wallet is *at risk* when P(alive) < 0.5.
P(alive) decays while nothing happens, so instead of rescoring every wallet every night we store the
closed-form date at which it will cross the threshold (a GSI sort key) and the nightly sweep reads only
the wallets that have come due.

Notation (Fader, Hardie & Lee 2005): for one wallet, x = number of *repeat* transactions, t_x = time of the
last one and T = age, both measured from the first transaction; r, alpha (Gamma heterogeneity of the
transaction rate lambda, alpha in time units) and a, b (Beta heterogeneity of the dropout probability p).

Models:
- BG/NBD: P. S. Fader, B. G. S. Hardie, K. L. Lee (2005), "Counting Your Customers the Easy Way: An
  Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284; likelihood eq. (6), see also
  B. Hardie's note 004 "Implementing the BG/NBD Model for Customer Base Analysis in Excel".
- MBG/NBD: E. P. Batislam, M. Denizel, A. Filiztekin (2007), "Empirical validation and comparison of
  models for customer base analysis", International Journal of Research in Marketing 24(3), 201-209;
  parameterised as in lifetimes' ``ModifiedBetaGeoFitter`` (same likelihood, same P(alive)).

Why MBG/NBD and not BG/NBD for ranking: in BG/NBD a customer can only drop out *right after a repeat
transaction*, so a wallet with x = 0 has never had the chance to die and its P(alive) is exactly 1.0 forever,
however long it has been silent. Most wallets are one-shot, so BG/NBD would never flag the bulk of the base.
MBG/NBD also allows dropout at time 0 (right after the first transaction), which makes P(alive) of a
one-shot wallet decay with T like everyone else's.

Runtime split: the scoring side (``p_alive``, ``due_time``, ``activity_summary``, ``wallet_churn``,
``silence_probability``, ``risk_of_silence``, ``wallet_risk``) uses only ``math`` because the profiles Lambda
ships without numpy/scipy; the fitting side imports numpy and scipy lazily and runs only in the nightly refit.

Churn risk (docs/churn.md): P(alive) answers "is this wallet still a customer?", which is not what a win-back
campaign needs and ranks worse than plain recency on real data. The risk is P(no activity in the next H days
| history), from the same MBG/NBD (``silence_probability``), recalibrated by a small layer that a backtest on
the community's own history fits (``ChurnLayer``): it corrects the model's P(alive) and, through the
regularity of the wallet's gaps (``gap_regularity``), the Poisson arrivals that make a wallet active once a
month look as likely to skip a month as a random one. The at-risk flag is armed once that backtest spans a
full horizon, at the threshold that flags the share of recently active wallets it saw go silent (``fit_churn``).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

    FloatArray = NDArray[np.float64]

DAY = 86_400
DEFAULT_HORIZON_DAYS = 30.0
ModelName = Literal["mbg_nbd", "bg_nbd"]
ModelKind = Literal["mbg_nbd", "mbg_nbd_prior"]

# Below this many wallets the four-parameter MLE is mostly noise (and often sits on a boundary of the
# parameter space), so the prior is the better estimate.
MIN_WALLETS = 20
# The store writes due dates as 12-digit zero-padded unix seconds (shared/store/keys.py, A9); anything later
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


# ---------------------------------------------------------------------------------------------- scoring side


def _check_threshold(threshold: float) -> None:
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")


def _log_odds_dead(params: ChurnParams, frequency: float, recency: float, T: float, model: ModelName) -> float:
    """log[P(dead) / P(alive)] given (x, t_x, T); -inf when the model says the wallet cannot be dead."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = frequency
    if model == "bg_nbd":
        if x <= 0:
            return -math.inf
        log_a_over = math.log(a) - math.log(b + x - 1.0)
    else:
        log_a_over = math.log(a) - math.log(b + x)
    return log_a_over + (r + x) * (math.log(alpha + T) - math.log(alpha + recency))


def p_alive(params: ChurnParams, frequency: float, recency: float, T: float, model: ModelName = "mbg_nbd") -> float:
    """P(alive at T | x, t_x, T).

    MBG/NBD (Batislam et al. 2007; lifetimes ModifiedBetaGeoFitter.conditional_probability_alive):
        1 / (1 + a/(b+x) * ((alpha+T)/(alpha+t_x))^(r+x))
    BG/NBD (Fader, Hardie & Lee 2005, eq. 13):
        1 / (1 + [x>0] * a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)),
    which is 1.0 for every x = 0 wallet whatever its age; hence not used for ranking (module docstring).
    """
    z = _log_odds_dead(params, frequency, recency, T, model)
    # 1 / (1 + e^z) evaluated on the side that cannot overflow
    if z > 0:
        e = math.exp(-z)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(z))


def due_time(
    params: ChurnParams,
    frequency: float,
    recency_time: float,
    threshold: float = 0.5,
    model: ModelName = "mbg_nbd",
) -> float | None:
    """The age T* at which P(alive) falls to `threshold` if no further transaction arrives.

    P(alive) is strictly decreasing in T with x and t_x fixed, so the crossing is unique. For MBG/NBD, setting
    the formula in `p_alive` equal to p and solving for T:
        ((alpha+T)/(alpha+t_x))^(r+x) = ((1-p)/p) * (b+x)/a
        T* = (alpha+t_x) * (((1-p)/p) * (b+x)/a)^(1/(r+x)) - alpha
    (BG/NBD: the same with b+x-1 in place of b+x). If T* <= t_x the wallet was already below the threshold
    right after its last transaction, so it is due at t_x. Returns None when it never comes due: BG/NBD with
    x = 0, or a crossing too far away to represent as a float.

    A new transaction raises P(alive) but can move T* *earlier* (more transactions imply a higher rate, so
    silence becomes evidence of death sooner), so the stored due date must be recomputed on every event.
    """
    _check_threshold(threshold)
    x = frequency
    if model == "bg_nbd":
        if x <= 0:
            return None
        b_x = params.b + x - 1.0
    else:
        b_x = params.b + x
    log_k = (math.log1p(-threshold) - math.log(threshold) + math.log(b_x) - math.log(params.a)) / (params.r + x)
    if log_k <= 0.0:
        return float(recency_time)
    if log_k > 700.0:  # exp would overflow
        return None
    t_star = (params.alpha + recency_time) * math.exp(log_k) - params.alpha
    if not math.isfinite(t_star):
        return None
    return max(t_star, float(recency_time))


def activity_summary(
    first_seen: int, active_day_numbers: Iterable[int], now: int, time_unit_days: float
) -> tuple[int, float, float]:
    """(x, t_x, T) of one wallet in units of `time_unit_days` days.

    Activity is recorded per UTC day (day number = unix // 86400), so a "transaction" is an active day:
    x = distinct active days after the first. Both t_x and T are measured from the *start* of the first active
    day: measuring T from first_seen to the second while t_x is day-granular could make t_x > T.
    """
    days = set(active_day_numbers)
    days.add(first_seen // DAY)
    first_day, last_day = min(days), max(days)
    unit = time_unit_days * DAY
    recency = (last_day - first_day) * DAY / unit
    age = max((now - first_day * DAY) / unit, recency)
    return len(days) - 1, recency, age


def wallet_churn(
    model: ChurnModel, first_seen: int, active_day_numbers: Iterable[int], now: int, threshold: float = 0.5
) -> tuple[float, int | None]:
    """(P(alive) now, unix second from which P(alive) < threshold if the wallet stays silent, or None).

    due_unix = start of the first active day + T* (see `activity_summary` for why the day start), rounded up
    so that the wallet really is below the threshold once the sweep sees it. It may lie in the past (already
    due). None: never due in representable time (beyond MAX_DUE_UNIX, the store's key width).
    """
    days = list(active_day_numbers)
    x, t_x, age = activity_summary(first_seen, days, now, model.time_unit_days)
    p_now = p_alive(model.params, x, t_x, age)
    t_star = due_time(model.params, x, t_x, threshold)
    if t_star is None:
        return p_now, None
    first_day = min([first_seen // DAY, *days])
    due = first_day * DAY + t_star * model.time_unit_days * DAY
    if not due < MAX_DUE_UNIX:
        return p_now, None
    return p_now, math.ceil(due)


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    e = math.exp(value)
    return e / (1.0 + e)


def _log_quiet_if_alive(params: ChurnParams, frequency: float, T: float, horizon: float) -> float:
    """log E[exp(-lambda H) | alive at T, x, T] = (r+x) log((alpha+T)/(alpha+T+H)) (see `silence_probability`)."""
    return (params.r + frequency) * (math.log(params.alpha + T) - math.log(params.alpha + T + horizon))


def _silence(
    alive: float, params: ChurnParams, frequency: float, T: float, horizon: float, rate_scale: float = 1.0
) -> float:
    # 1 - P(alive) + P(alive) E[...] written as 1 - P(alive) (1 - E[...]) with expm1, exact for tiny H
    busy = -math.expm1(rate_scale * _log_quiet_if_alive(params, frequency, T, horizon))
    return min(1.0, max(0.0, 1.0 - alive * busy))


def gap_regularity(first_seen: int, active_day_numbers: Iterable[int]) -> float:
    """How regular the gaps between the wallet's active days are: -1/2 log of their squared coefficient of
    variation, shrunk towards a Poisson process's (CV^2 = 1) by one pseudo-gap,

        -1/2 log((sum_i ((g_i - mean g) / mean g)^2 + 1) / n)   over the n gaps g_i,

    floored at 0: 0 with fewer than two gaps (nothing to tell), Poisson-like spacing or bursts, up to
    log(n) / 2 for identical gaps (clockwork: a monthly reward). It depends on the active days alone, so it
    does not move while the wallet is silent.

    Why: MBG/NBD's Poisson arrivals give a wallet active once a month a 1/e chance of a silent month, like
    any wallet with that rate, where a clockwork one is sure to come back; timing regularity is what tells
    them apart (M. Platzer, T. Reutterer (2016), "Ticking Away the Moments: Timing Regularity Helps to Better
    Predict Customer Activity", Marketing Science 35(5), 779-799). The pseudo-gap keeps two gaps that happen
    to be equal from counting as much as ten. Bursts are left to the MBG/NBD's own heterogeneity: on the
    simulator's community a term on them let the regular wallets' coefficient mark a busy but bursty wallet
    as about to go silent.
    """
    days = sorted({first_seen // DAY, *active_day_numbers})
    n = len(days) - 1
    if n < 2:
        return 0.0
    mean = (days[-1] - days[0]) / n
    spread = sum(((later - earlier - mean) / mean) ** 2 for earlier, later in itertools.pairwise(days))
    return max(0.0, -0.5 * math.log((spread + 1.0) / n))


def silence_probability(
    params: ChurnParams, frequency: float, recency: float, T: float, horizon: float, model: ModelName = "mbg_nbd"
) -> float:
    """P(X(T, T+H) = 0 | x, t_x, T): no transaction in the next H time units, given the history.

    BG/NBD and MBG/NBD share the derivation (Fader, Hardie & Lee 2005, section 3 and appendix; B. Hardie's note
    "Deriving the Conditional PMF of the BG/NBD Model", whose n = 0 term it is; Batislam et al. 2007 for the
    MBG/NBD's P(alive)). A dead customer makes no transaction, and an alive one can only die right after a
    transaction, so silence in (T, T+H] for an alive customer is exactly "the Poisson(lambda) process has no
    event in H", probability exp(-lambda H). Hence

        P(X(T, T+H) = 0 | history) = 1 - P(alive) + P(alive) E[exp(-lambda H) | history, alive].

    Given alive at T, the likelihood of the history in lambda is lambda^x exp(-lambda T) (x events, then no
    event in the T - t_x since the last; the dropout coins do not involve lambda), and the prior is
    Gamma(r, alpha), so the posterior is Gamma(r + x, alpha + T), whose Laplace transform at H is

        E[exp(-lambda H) | history, alive] = ((alpha + T) / (alpha + T + H))^(r + x).

    tests/unit/test_churn_risk.py checks the result against wallets simulated from the model. The probability
    grows with T at fixed (x, t_x): P(alive) falls and the posterior rate falls, so silence is ever likelier.
    """
    if horizon < 0:
        raise ValueError(f"horizon must be >= 0, got {horizon}")
    return _silence(p_alive(params, frequency, recency, T, model), params, frequency, T, horizon)


def _corrected_alive(model: ChurnModel, frequency: float, recency: float, T: float) -> float:
    alive_logit = -_log_odds_dead(model.params, frequency, recency, T, "mbg_nbd")
    layer = model.layer
    if layer is None:
        return _sigmoid(alive_logit)
    silence_days = max(0.0, T - recency) * model.time_unit_days
    mean_gap = (recency * model.time_unit_days + layer.prior_gap_days) / (frequency + 1.0)
    return _sigmoid(
        layer.intercept
        + layer.alive_logit * alive_logit
        + layer.log_frequency * math.log1p(frequency)
        + layer.log_overdue * math.log1p(silence_days / mean_gap)
        + layer.log_silence * math.log1p(silence_days)
    )


def risk_from_summary(
    model: ChurnModel,
    frequency: float,
    recency: float,
    T: float,
    horizon_days: float | None = None,
    regularity: float = 0.0,
) -> float:
    """The churn risk of one (x, t_x, T) in the model's time unit, `regularity` its `gap_regularity`:
    `silence_probability` recalibrated by the model's layer when it has one (`ChurnLayer`). H defaults to the
    model's `horizon_days`."""
    days = model.horizon_days if horizon_days is None else horizon_days
    if days < 0:
        raise ValueError(f"horizon_days must be >= 0, got {days}")
    alive = _corrected_alive(model, frequency, recency, T)
    scale = math.exp(model.layer.regularity * regularity) if model.layer is not None else 1.0
    return _silence(alive, model.params, frequency, T, days / model.time_unit_days, scale)


def risk_of_silence(
    model: ChurnModel, first_seen: int, active_day_numbers: Iterable[int], now: int, horizon_days: float
) -> float:
    """P(no activity in (now, now + horizon_days days] | the wallet's active days up to now).

    `model` is a ChurnModel, the other arguments are as in `wallet_churn`. The MBG/NBD's own probability
    (`silence_probability`), recalibrated by the model's layer when it has one (`ChurnLayer`).
    """
    days = list(active_day_numbers)
    x, t_x, age = activity_summary(first_seen, days, now, model.time_unit_days)
    return risk_from_summary(model, x, t_x, age, horizon_days, gap_regularity(first_seen, days))


def risk_percentile(model: ChurnModel, risk: float) -> float | None:
    """Percentile (0-100) of `risk` in the fitted population's risk distribution, by linear interpolation
    between the stored knots (ties count half below, half above, as a mid-rank does); None without knots."""
    knots = model.risk_knots
    if not knots:
        return None
    if risk < knots[0]:
        return 0.0
    if risk > knots[-1]:
        return 100.0
    step = 100.0 / (len(knots) - 1)
    low, high = bisect.bisect_left(knots, risk), bisect.bisect_right(knots, risk)
    if high > low:
        return (low + high - 1) / 2 * step
    below, above = knots[low - 1], knots[low]
    return (low - 1 + (risk - below) / (above - below)) * step


def risk_due_time(
    model: ChurnModel,
    frequency: float,
    recency: float,
    threshold: float,
    horizon_days: float | None = None,
    max_T: float = math.inf,
    regularity: float = 0.0,
) -> float | None:
    """The age T* >= t_x at which the risk reaches `threshold` if no further activity arrives, or None if not
    before `max_T`.

    No closed form once the layer recalibrates the model, but the risk is non-decreasing in T at fixed
    (x, t_x) (`silence_probability`; the layer keeps it so, `ChurnLayer`) and tends to 1, so the crossing is
    found by doubling the step from t_x until the risk is over the threshold, then bisecting to well under a
    second.
    """
    _check_threshold(threshold)

    def risk(T: float) -> float:
        return risk_from_summary(model, frequency, recency, T, horizon_days, regularity)

    if risk(recency) >= threshold:
        return float(recency)
    second = 1.0 / (model.time_unit_days * DAY)
    step = max(second, (model.horizon_days if horizon_days is None else horizon_days) / model.time_unit_days)
    low, high = float(recency), recency + step
    while risk(high) < threshold:
        if high > max_T:
            return None
        low, step = high, step * 2.0
        high = recency + step
    while high - low > 0.1 * second:
        middle = (low + high) / 2.0
        if middle in (low, high):
            break
        if risk(middle) >= threshold:
            high = middle
        else:
            low = middle
    return high if high <= max_T else None


@dataclass(frozen=True)
class WalletRisk:
    """One wallet's churn risk now: P(no activity in the next `horizon_days`), its percentile in the fitted
    population, the at-risk verdict and the unix second from which the wallet is at risk if it stays silent.
    `at_risk` and `due` are None when the model has no risk threshold (P(alive) decides, as before)."""

    risk: float
    percentile: float | None
    horizon_days: float
    at_risk: bool | None
    due: int | None


def wallet_risk(model: ChurnModel, first_seen: int, active_day_numbers: Iterable[int], now: int) -> WalletRisk:
    days = list(active_day_numbers)
    x, t_x, age = activity_summary(first_seen, days, now, model.time_unit_days)
    regularity = gap_regularity(first_seen, days)
    risk = risk_from_summary(model, x, t_x, age, regularity=regularity)
    percentile = risk_percentile(model, risk)
    threshold = model.risk_threshold
    if threshold is None:
        return WalletRisk(risk, percentile, model.horizon_days, None, None)
    first_day = min([first_seen // DAY, *days])
    unit = model.time_unit_days * DAY
    max_T = (MAX_DUE_UNIX - first_day * DAY) / unit
    t_star = risk_due_time(model, x, t_x, threshold, max_T=max_T, regularity=regularity)
    due = None if t_star is None else math.ceil(first_day * DAY + t_star * unit)
    if due is not None and not due < MAX_DUE_UNIX:
        due = None
    return WalletRisk(risk, percentile, model.horizon_days, risk >= threshold, due)


# ---------------------------------------------------------------------------------------------- fitting side


def _arrays(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    import numpy as np  # fitting side only: the scoring Lambda ships without numpy

    x = np.asarray(frequency, dtype=np.float64).ravel()
    t_x = np.asarray(recency, dtype=np.float64).ravel()
    age = np.asarray(T, dtype=np.float64).ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if not (x.shape == t_x.shape == age.shape == w.shape):
        raise ValueError("frequency, recency, T and weights must have the same length")
    if x.size == 0:
        raise ValueError("no customers")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t_x)) and np.all(np.isfinite(age))):
        raise ValueError("frequency, recency and T must be finite")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError("frequency must be a non-negative integer count")
    if np.any(t_x < 0) or np.any(t_x > age):
        raise ValueError("need 0 <= recency <= T")
    if np.any(w < 0) or not np.any(w > 0):
        raise ValueError("weights must be non-negative and not all zero")
    return x, t_x, age, w


def _loglik_terms(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, age: FloatArray, model: ModelName
) -> FloatArray:
    """Per-customer log-likelihoods, exactly lifetimes' (BetaGeoFitter / ModifiedBetaGeoFitter)."""
    import numpy as np  # fitting side only: the scoring Lambda ships without numpy
    from scipy.special import gammaln  # likewise

    # Gamma(r+x) alpha^r / Gamma(r): the NBD part common to both terms
    nbd = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    log_alive = -(r + x) * np.log(alpha + age)
    log_since_last = -(r + x) * np.log(alpha + t_x)
    if model == "mbg_nbd":
        # B(a, b+x+1)/B(a, b) * [(alpha+T)^-(r+x) + a/(b+x) (alpha+t_x)^-(r+x)]
        beta = gammaln(a + b) + gammaln(b + x + 1) - gammaln(b) - gammaln(a + b + x + 1)
        dead = np.log(a) - np.log(b + x) + log_since_last
        return nbd + beta + np.logaddexp(log_alive, dead)
    # BG/NBD, FHL (2005) eq. (6): B(a, b+x)/B(a, b) (alpha+T)^-(r+x) + [x>0] B(a+1, b+x-1)/B(a, b) (alpha+t_x)^-(r+x)
    beta = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    dead = np.where(x > 0, np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) + log_since_last, -np.inf)
    return nbd + beta + np.logaddexp(log_alive, dead)


def log_likelihood(
    params: ChurnParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
    model: ModelName = "mbg_nbd",
) -> float:
    """Total weighted log-likelihood of (x, t_x, T) rows under BG/NBD or MBG/NBD (formulas in `_loglik_terms`)."""
    x, t_x, age, w = _arrays(frequency, recency, T, weights)
    terms = _loglik_terms(params.r, params.alpha, params.a, params.b, x, t_x, age, model)
    return float((w * terms).sum())


def bgnbd_log_likelihood(
    params: ChurnParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
) -> float:
    return log_likelihood(params, frequency, recency, T, weights, "bg_nbd")


def mbgnbd_log_likelihood(
    params: ChurnParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
) -> float:
    return log_likelihood(params, frequency, recency, T, weights, "mbg_nbd")


def fit(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
    model: ModelName = "mbg_nbd",
) -> FitResult:
    """Maximum-likelihood (r, alpha, a, b), no penalizer (lifetimes' default penalizer_coef = 0).

    Optimised over log-parameters so positivity is free. Time is rescaled so that max(T) = 10 (as lifetimes
    does) because alpha lives on the time axis and a badly scaled alpha slows every optimiser down; alpha is
    scaled back afterwards. Nelder-Mead finds the basin without trusting gradients far from the optimum,
    then BFGS on the mean negative log-likelihood polishes to a tight gradient tolerance.
    """
    import numpy as np  # fitting side only: the scoring Lambda ships without numpy
    from scipy.optimize import minimize  # likewise

    x, t_x, age, w = _arrays(frequency, recency, T, weights)
    keep = w > 0
    x, t_x, age, w = x[keep], t_x[keep], age[keep], w[keep]
    max_age = float(age.max())
    scale = 10.0 / max_age if max_age > 0 else 1.0
    t_x_s, age_s = t_x * scale, age * scale
    total = float(w.sum())

    def objective(log_params: FloatArray) -> float:
        if np.any(np.abs(log_params) > 3 * _LOG_PARAM_BOUND):
            return math.inf
        r, alpha, a, b = np.exp(log_params)
        with np.errstate(all="ignore"):
            value = -float((w * _loglik_terms(r, alpha, a, b, x, t_x_s, age_s, model)).sum()) / total
        return value if math.isfinite(value) else math.inf

    start = np.zeros(4)  # r = alpha = a = b = 1 on the rescaled axis: a moderate, well-conditioned point
    coarse = minimize(objective, start, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000})
    fine = minimize(objective, coarse.x, method="BFGS", options={"gtol": 1e-9, "maxiter": 500})
    best = fine if math.isfinite(fine.fun) and fine.fun <= coarse.fun else coarse
    # BFGS often ends with "precision loss" at a true optimum (the finite-difference gradient floor), so
    # judge convergence by the gradient itself rather than by the optimiser's status flag.
    converged = (
        math.isfinite(best.fun)
        and bool(np.all(np.abs(best.x) < _LOG_PARAM_BOUND))
        and _gradient_norm(objective, best.x) < 1e-4
    )
    r, alpha_s, a, b = (float(v) for v in np.exp(best.x))
    params = ChurnParams(r=r, alpha=alpha_s / scale, a=a, b=b)
    return FitResult(
        params=params, log_likelihood=log_likelihood(params, x, t_x, age, w, model), n=total, converged=converged
    )


def _gradient_norm(objective: Callable[[FloatArray], float], point: FloatArray) -> float:
    import numpy as np  # fitting side only: the scoring Lambda ships without numpy
    from scipy.optimize import approx_fprime  # likewise

    grad = approx_fprime(point, objective, 1e-7)
    return float(np.max(np.abs(grad)))


def fit_bgnbd(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None) -> FitResult:
    return fit(frequency, recency, T, weights, "bg_nbd")


def fit_mbgnbd(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None) -> FitResult:
    return fit(frequency, recency, T, weights, "mbg_nbd")


def prior_model(time_unit_days: float = 7.0, fitted_at: int = 0, version: int = 1) -> ChurnModel:
    """PRIOR_PARAMS_WEEKS on a `time_unit_days` axis, for when there is nothing to fit."""
    return ChurnModel(
        kind="mbg_nbd_prior",
        version=version,
        fitted_at=fitted_at,
        time_unit_days=time_unit_days,
        params=PRIOR_PARAMS_WEEKS.rescaled(7.0 / time_unit_days),
        n_wallets=0,
        log_likelihood=0.0,
    )


def fit_from_activity(
    rows: Sequence[tuple[int, Sequence[int], int]],
    time_unit_days: float = 7.0,
    *,
    version: int = 1,
    fitted_at: int | None = None,
) -> ChurnModel:
    """The nightly refit: rows of (first_seen unix, active day numbers, now unix) -> an MBG/NBD ChurnModel.

    Each row becomes (x, t_x, T) by `activity_summary`; identical rows are collapsed into weights. Falls back
    to the prior (kind "mbg_nbd_prior") rather than raising when there are fewer than MIN_WALLETS wallets,
    nobody or everybody came back (the MLE then sits on a boundary of the parameter space), every wallet has
    zero age, or the optimiser does not converge to an interior point. fitted_at defaults to the latest `now`.
    """
    import numpy as np  # fitting side only: the scoring Lambda ships without numpy

    if time_unit_days <= 0:
        raise ValueError("time_unit_days must be positive")
    when = fitted_at if fitted_at is not None else max((now for _, _, now in rows), default=0)
    prior = prior_model(time_unit_days, when, version)
    if not rows:
        return prior
    summaries = np.array(
        [activity_summary(first, days, now, time_unit_days) for first, days, now in rows], dtype=np.float64
    )
    unique, counts = np.unique(summaries, axis=0, return_counts=True)
    x, t_x, age, w = unique[:, 0], unique[:, 1], unique[:, 2], counts.astype(np.float64)
    n = len(rows)
    prior = prior.model_copy(
        update={"n_wallets": n, "log_likelihood": log_likelihood(prior.params, x, t_x, age, w, "mbg_nbd")}
    )
    repeaters = float(w[x > 0].sum())
    if n < MIN_WALLETS or repeaters == 0 or repeaters == n or float(age.max()) <= 0:
        return prior
    try:
        result = fit(x, t_x, age, w, "mbg_nbd")
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
        return prior
    if not result.converged or not math.isfinite(result.log_likelihood):
        return prior
    return ChurnModel(
        kind="mbg_nbd",
        version=version,
        fitted_at=when,
        time_unit_days=time_unit_days,
        params=result.params,
        n_wallets=n,
        log_likelihood=result.log_likelihood,
    )


# ---------------------------------------------------------------------------------------------- risk fitting

Row = tuple[int, Sequence[int], int]
# A backtest needs both outcomes among enough wallets to say anything about the layer or the model.
MIN_BACKTEST_EACH = 5
_IDENTITY_LAYER = (0.0, 1.0, 0.0, 0.0, 0.0)
# A whisper of shrinkage towards the identity layer: it keeps the optimiser off the bounds when the backtest
# cannot tell the coefficients apart, and moves a well-determined fit by far less than its standard error.
_LAYER_SHRINKAGE = 1e-4


def end_day_of(now: int) -> int:
    """The first UTC day not yet (fully) observed at `now`: activity is per day, so windows end at midnights."""
    return -(-now // DAY)


def truncate(rows: Iterable[Row], cut: int) -> list[Row]:
    """The rows as they were at `cut` (a UTC midnight): wallets first seen before it, their earlier days."""
    cut_day = cut // DAY
    out: list[Row] = []
    for first, days, _ in rows:
        if first < cut:
            out.append((first, [d for d in days if d < cut_day], cut))
    return out


def silent_between(days: Iterable[int], start_day: int, end_day: int) -> bool:
    """No active day in [start_day, end_day)."""
    return not any(start_day <= d < end_day for d in days)


def flag_candidates(rows: Sequence[Row], recent_days: int | None) -> list[bool]:
    """Per row: could the at-risk flag be raised on it, i.e. was it active within `recent_days` days of its
    `now` (older silences are the dormant and exited states' business); every row when `recent_days` is None."""
    if recent_days is None:
        return [True] * len(rows)
    return [max([first // DAY, *days]) >= end_day_of(now) - recent_days for first, days, now in rows]


def _risk_inputs(
    params: ChurnParams, rows: Sequence[Row], time_unit_days: float, horizon: float, prior_gap_days: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per row: logit P(alive) under the model, log(1 + x), log(1 + silence in mean gaps), log E[exp(-lambda
    H) | alive] and the regularity of its gaps (`gap_regularity`); `ChurnLayer` has the formulas."""
    import numpy as np  # fitting side only: the scoring Lambda ships without numpy

    summaries = np.array([activity_summary(f, d, n, time_unit_days) for f, d, n in rows], dtype=np.float64)
    x, t_x, age = summaries[:, 0], summaries[:, 1], summaries[:, 2]
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    alive_logit = -(np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x)))
    log_quiet = (r + x) * (np.log(alpha + age) - np.log(alpha + age + horizon))
    mean_gap = (t_x * time_unit_days + prior_gap_days) / (x + 1.0)
    overdue = np.log1p(np.maximum(age - t_x, 0.0) * time_unit_days / mean_gap)
    regularity = np.array([gap_regularity(f, d) for f, d, _ in rows], dtype=np.float64)
    return alive_logit, np.log1p(x), overdue, log_quiet, regularity


def fit_layer(
    model: ChurnModel,
    rows: Sequence[Row],
    silent: Sequence[bool],
    horizon_days: float,
    cut: int,
    prior_gap_days: float | None = None,
) -> ChurnLayer | None:
    """Fit the recalibration layer by maximum likelihood on a backtest: `rows` as they were at `cut`, scored
    by `model` (fitted on those same rows), `silent[i]` whether wallet i had no activity in the
    `horizon_days` after the cut. `prior_gap_days` is the pseudo-gap of the wallets' mean gaps (the H the
    layer will score for; `horizon_days` when None). None when the backtest has too few wallets or only one
    outcome.

    The layer recalibrates P(alive) and the silence of an alive wallet rather than the risk itself so that
    the MBG/NBD keeps saying how silence scales with the horizon: the backtest window may be shorter than H
    on a young community (``fit_churn``), and a logistic regression on the risk would only be calibrated for
    the window it saw. Its terms are the ones the backtests on CDNOW and the simulator's community supported
    out of sample: a slope on the model's log-odds (which corrects how sharply the model separates alive
    from dead), a frequency term (MBG/NBD's P(alive) leans on log(b + x) and over-trusts one-shot customers),
    silence counted in the wallet's own mean gaps, and the regularity of the gaps, which scales the expected
    activity of an alive wallet (``ChurnLayer``). Recency and age already enter P(alive) through
    ((alpha+T)/(alpha+t_x))^(r+x); free terms for age fitted the backtest's young ages and extrapolated badly
    to the older wallets being scored, silence in days held a wallet paid once a month overdue after three
    weeks, and an intercept on the expected activity traded away CDNOW's ranking and calibration
    (docs/churn.md).
    """
    import numpy as np  # fitting side only: the scoring Lambda ships without numpy
    from scipy.optimize import minimize  # likewise

    y = np.asarray(silent, dtype=np.float64)
    if len(rows) != len(y):
        raise ValueError("rows and silent must have the same length")
    n_silent = float(y.sum())
    if len(rows) < MIN_WALLETS or min(n_silent, len(y) - n_silent) < MIN_BACKTEST_EACH:
        return None
    prior_gap = horizon_days if prior_gap_days is None else prior_gap_days
    columns = _risk_inputs(model.params, rows, model.time_unit_days, horizon_days / model.time_unit_days, prior_gap)
    unique, counts = np.unique(np.column_stack([*columns, y]), axis=0, return_counts=True)
    u_logit, u_freq, u_overdue, u_log_q, u_reg, u_y = unique.T
    w = counts / counts.sum()
    identity = np.array(_IDENTITY_LAYER)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        u = theta[0] + theta[1] * u_logit + theta[2] * u_freq + theta[3] * u_overdue
        log_alive = -np.logaddexp(0.0, -u)
        log_q = u_log_q * np.exp(theta[4] * u_reg)  # log Q' of an alive wallet, < 0
        q = np.exp(log_q)
        log_busy = np.log(-np.expm1(np.minimum(log_q, -1e-300)))
        # risk = 1 - alive * busy; log of both outcomes without cancellation
        log_not_silent = log_alive + log_busy
        log_silent = np.log(-np.expm1(np.minimum(log_not_silent, -1e-300)))
        loss = -float(np.sum(w * (u_y * log_silent + (1 - u_y) * log_not_silent)))
        # d(-loglik)/d log_not_silent, then the chain rule through log_alive (u) and log_busy (theta[4])
        d_not_silent = -w * (1 - u_y - u_y * np.exp(log_not_silent - log_silent))
        du = d_not_silent * (1.0 - np.exp(log_alive))
        d_busy = d_not_silent * (-q / -np.expm1(np.minimum(log_q, -1e-300))) * log_q * u_reg
        grad = np.array([du.sum(), (du * u_logit).sum(), (du * u_freq).sum(), (du * u_overdue).sum(), d_busy.sum()])
        penalty = theta - identity
        return loss + _LAYER_SHRINKAGE * float(penalty @ penalty), grad + 2 * _LAYER_SHRINKAGE * penalty

    bounds = [(-50.0, 50.0), (0.0, 50.0), (-20.0, 20.0), (-20.0, 0.0), (-10.0, 10.0)]
    result = minimize(objective, identity, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 1000})
    theta = result.x if np.all(np.isfinite(result.x)) else identity
    loss = objective(theta)[0] - _LAYER_SHRINKAGE * float((theta - identity) @ (theta - identity))
    return ChurnLayer(
        intercept=float(theta[0]),
        alive_logit=float(theta[1]),
        log_frequency=float(theta[2]),
        log_overdue=float(theta[3]),
        prior_gap_days=prior_gap,
        regularity=float(theta[4]),
        trained_cut=cut,
        trained_horizon_days=horizon_days,
        n_wallets=len(rows),
        silent_rate=n_silent / len(y),
        log_loss=max(0.0, loss),
    )


def _quantiles(values: ArrayLike, points: int = 101) -> list[float]:
    import numpy as np  # fitting side only: the scoring Lambda ships without numpy

    knots = np.quantile(np.asarray(values, dtype=np.float64), np.linspace(0.0, 1.0, points))
    return [float(v) for v in np.maximum.accumulate(knots)]


def at_risk_threshold(risks: ArrayLike, candidates: ArrayLike, share: float) -> float | None:
    """The threshold that flags `share` of the candidate wallets (the recently active ones), riskiest first.
    None when there is no candidate."""
    import numpy as np  # fitting side only: the scoring Lambda ships without numpy

    values = np.asarray(risks, dtype=np.float64)[np.asarray(candidates, dtype=bool)]
    if values.size == 0:
        return None
    threshold = float(np.quantile(values, min(1.0, max(0.0, 1.0 - share))))
    return min(max(threshold, 1e-9), 1.0 - 1e-9)


def fit_churn(
    rows: Sequence[Row],
    time_unit_days: float = 7.0,
    *,
    horizon_days: int = int(DEFAULT_HORIZON_DAYS),
    recent_days: int | None = 30,
    version: int = 1,
    fitted_at: int | None = None,
) -> ChurnModel:
    """The nightly refit with the risk: the MBG/NBD (`fit_from_activity`), the recalibration layer fitted by a
    backtest inside the data, the population's risk percentiles, and the at-risk threshold.

    The backtest: features at cut = end - h, label = silent in (cut, end], where end is the first unobserved
    midnight and h = H, or half the observed history when that is shorter (the features need a past at least
    as long as the label window), at least one day. The MBG/NBD scoring the backtest is refitted on the rows
    as they were at the cut, so the layer learns what the model gets wrong out of sample. The layer is fitted
    on the wallets the flag could have raised at the cut (active within `recent_days` of it; every wallet
    when None): the flag ranks those, and long-silent wallets, easy to call, would otherwise dominate the fit.

    The at-risk threshold flags, among the wallets active within `recent_days`, the share of them that the
    backtest saw go silent, riskiest first: a calibrated threshold, read off the community's own last
    horizon rather than off the model's mean risk, which on a young or changing community ranged from a
    tenth to twice the share that went silent. It is set only when that backtest spans a full H (a history
    of at least 2H): a shorter window has never seen an H-day silence and leaves the model to extrapolate,
    which cannot know a wallet's cycle longer than the window (a monthly reward in a 20-day window). Until
    then the at-risk flag falls back to P(alive), and the risk is still scored and ranked.
    """
    import numpy as np  # fitting side only: the scoring Lambda ships without numpy

    if horizon_days < 1:
        raise ValueError("horizon_days must be >= 1")
    base = fit_from_activity(rows, time_unit_days, version=version, fitted_at=fitted_at)
    model = base.model_copy(update={"horizon_days": horizon_days})
    if len(rows) < MIN_WALLETS:
        return model
    end_day = end_day_of(base.fitted_at)
    first_day = min(first // DAY for first, _, _ in rows)
    window = min(horizon_days, (end_day - first_day) // 2)
    observed_share: float | None = None
    if window >= 1:
        cut = (end_day - window) * DAY
        then = truncate(rows, cut)
        silent = np.array([silent_between(d, end_day - window, end_day) for f, d, _ in rows if f < cut], dtype=bool)
        candidates = np.array(flag_candidates(then, recent_days), dtype=bool)
        earlier = fit_from_activity(then, time_unit_days, fitted_at=cut)
        chosen = [row for row, keep in zip(then, candidates, strict=True) if keep]
        layer = (
            fit_layer(earlier, chosen, silent[candidates], float(window), cut, float(horizon_days)) if chosen else None
        )
        model = model.model_copy(update={"layer": layer})
        if window == horizon_days and candidates.any():
            observed_share = float(silent[candidates].mean())
    risks = [risk_of_silence(model, first, days, now, horizon_days) for first, days, now in rows]
    threshold = None
    if observed_share is not None:
        threshold = at_risk_threshold(risks, flag_candidates(rows, recent_days), observed_share)
    return model.model_copy(update={"risk_knots": _quantiles(risks), "risk_threshold": threshold})


def auc(scores: ArrayLike, positives: ArrayLike) -> float | None:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted half); None with one class only."""
    import numpy as np  # fitting side only: the scoring Lambda ships without numpy
    from scipy.stats import rankdata  # likewise

    labels = np.asarray(positives, dtype=bool)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibration_table(predicted: ArrayLike, observed: ArrayLike, bins: int = 10) -> list[CalibrationBin]:
    """Equal-count bins of predicted risk (deciles by default), lowest first."""
    import numpy as np  # fitting side only: the scoring Lambda ships without numpy

    p = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(observed, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    table = []
    for chunk in np.array_split(order, min(bins, len(order))):
        if chunk.size == 0:
            continue
        table.append(
            CalibrationBin(
                lower=float(p[chunk].min()),
                upper=float(p[chunk].max()),
                n_wallets=int(chunk.size),
                predicted=float(p[chunk].mean()),
                observed=float(y[chunk].mean()),
            )
        )
    return table


def backtest(
    rows: Sequence[Row],
    cut: int,
    horizon_days: int = int(DEFAULT_HORIZON_DAYS),
    time_unit_days: float = 7.0,
    *,
    recent_days: int | None = 30,
    at_risk_p_alive: float = 0.5,
) -> ChurnBacktest:
    """Fit everything (`fit_churn`) on the activity before `cut` (a UTC midnight), score every wallet seen
    before it, and compare with what happened in the `horizon_days` after it. The flag is what the product
    would have raised: on the wallets active within `recent_days` of the cut, at the model's risk threshold,
    or at P(alive) < `at_risk_p_alive` when the model has none. The rows must cover the whole window:
    ValueError when the cut is not a midnight, leaves fewer than MIN_WALLETS wallets, or the latest
    observation ends before cut + horizon."""
    import numpy as np  # fitting side only: the scoring Lambda ships without numpy

    if cut % DAY:
        raise ValueError("the cut must be a UTC midnight")
    if horizon_days < 1:
        raise ValueError("horizon_days must be >= 1")
    rows = list(rows)
    latest = max((now for _, _, now in rows), default=0)
    cut_day = cut // DAY
    if latest < cut + horizon_days * DAY:
        raise ValueError(
            f"the data ends before cut + {horizon_days} days: pick a cut at least {horizon_days} days before the end"
        )
    then = truncate(rows, cut)
    if len(then) < MIN_WALLETS:
        raise ValueError(f"only {len(then)} wallets were seen before the cut; need at least {MIN_WALLETS}")
    silent = np.array(
        [silent_between(days, cut_day, cut_day + horizon_days) for first, days, _ in rows if first < cut], dtype=bool
    )
    model = fit_churn(then, time_unit_days, horizon_days=horizon_days, recent_days=recent_days, fitted_at=cut)
    risks = np.array([risk_of_silence(model, f, d, n, horizon_days) for f, d, n in then])
    quiet = np.array([cut_day - max([f // DAY, *d]) for f, d, _ in then], dtype=np.float64)
    candidates = np.array(flag_candidates(then, recent_days), dtype=bool)
    if model.risk_threshold is not None:
        flagged = candidates & (risks >= model.risk_threshold)
    else:
        p_now = np.array([wallet_churn(model, f, d, n)[0] for f, d, n in then])
        flagged = candidates & (p_now < at_risk_p_alive)
    return ChurnBacktest(
        cut=cut,
        horizon_days=horizon_days,
        n_wallets=len(then),
        silent_rate=float(silent.mean()),
        auc=auc(risks, silent),
        recency_auc=auc(quiet, silent),
        brier=float(np.mean((risks - silent) ** 2)),
        flagged_share=float(flagged.mean()),
        precision=float(silent[flagged].mean()) if flagged.any() else None,
        flag_base_rate=float(silent[candidates].mean()) if candidates.any() else None,
        calibration=calibration_table(risks, silent),
        model_kind=model.kind,
    )
