"""The scoring side: P(alive), the date it crosses the at-risk threshold, and the churn risk of one
wallet. Only `math`, because the profiles Lambda ships without numpy/scipy."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    FloatArray = NDArray[np.float64]

from shared.churn.models import DAY, MAX_DUE_UNIX, ChurnModel, ChurnParams, ModelName

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
