"""Fitting MBG/NBD (and BG/NBD) by maximum likelihood; numpy/scipy are imported lazily, the nightly
refit being the only place that runs them."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

    FloatArray = NDArray[np.float64]

from shared.churn.models import (
    _LOG_PARAM_BOUND,
    MIN_WALLETS,
    PRIOR_PARAMS_WEEKS,
    ChurnModel,
    ChurnParams,
    FitResult,
    ModelName,
)
from shared.churn.scoring import activity_summary

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
