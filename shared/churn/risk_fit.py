"""Fitting the risk layer on the community's own history, the at-risk threshold, and the backtest."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

    FloatArray = NDArray[np.float64]

from shared.churn.fitting import fit_from_activity
from shared.churn.models import (
    DAY,
    DEFAULT_HORIZON_DAYS,
    MIN_WALLETS,
    CalibrationBin,
    ChurnBacktest,
    ChurnLayer,
    ChurnModel,
    ChurnParams,
)
from shared.churn.scoring import activity_summary, gap_regularity, risk_of_silence, wallet_churn

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
