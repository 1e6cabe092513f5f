"""Wallet churn: P(alive) under MBG/NBD, the date it crosses the at-risk threshold, and the nightly refit.

design.md section 6: a wallet is *at risk* when P(alive) < 0.5. P(alive) decays while nothing happens, so
instead of rescoring every wallet every night we store the closed-form date at which it will cross the
threshold (a GSI sort key) and the nightly sweep reads only the wallets that have come due.

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

Runtime split: the scoring side (``p_alive``, ``due_time``, ``activity_summary``, ``wallet_churn``) uses only
``math`` because the profiles Lambda ships without numpy/scipy; the fitting side imports numpy and scipy
lazily and runs only in the nightly refit.
"""

from __future__ import annotations

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


class ChurnModel(BaseModel):
    """One nightly fit: what the profiles function and the sweep read. Times are in `time_unit_days` days.

    kind "mbg_nbd_prior" means the population could not be fitted and `params` are PRIOR_PARAMS_WEEKS
    rescaled to the unit; `log_likelihood` is then the prior's log-likelihood on that population (0.0 if empty).
    """

    model_config = ConfigDict(frozen=True)

    kind: ModelKind
    version: int = Field(ge=1)
    fitted_at: int
    time_unit_days: float = Field(gt=0)
    params: ChurnParams
    n_wallets: int = Field(ge=0)
    log_likelihood: float


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


# ---------------------------------------------------------------------------------------------- fitting side


def _arrays(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    import numpy as np

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
    import numpy as np
    from scipy.special import gammaln

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
    import numpy as np
    from scipy.optimize import minimize

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
    import numpy as np
    from scipy.optimize import approx_fprime

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
    import numpy as np

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
