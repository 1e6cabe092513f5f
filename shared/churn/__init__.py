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

from shared.churn.fitting import (
    bgnbd_log_likelihood,
    fit,
    fit_bgnbd,
    fit_from_activity,
    fit_mbgnbd,
    log_likelihood,
    mbgnbd_log_likelihood,
    prior_model,
)
from shared.churn.models import (
    DAY,
    DEFAULT_HORIZON_DAYS,
    MAX_DUE_UNIX,
    MIN_WALLETS,
    PRIOR_PARAMS_WEEKS,
    CalibrationBin,
    ChurnBacktest,
    ChurnLayer,
    ChurnModel,
    ChurnParams,
    FitResult,
    ModelKind,
    ModelName,
)
from shared.churn.risk_fit import (
    MIN_BACKTEST_EACH,
    Row,
    at_risk_threshold,
    auc,
    backtest,
    calibration_table,
    end_day_of,
    fit_churn,
    fit_layer,
    flag_candidates,
    silent_between,
    truncate,
)
from shared.churn.scoring import (
    WalletRisk,
    activity_summary,
    due_time,
    gap_regularity,
    p_alive,
    risk_due_time,
    risk_from_summary,
    risk_of_silence,
    risk_percentile,
    silence_probability,
    wallet_churn,
    wallet_risk,
)

__all__ = [
    "DAY",
    "DEFAULT_HORIZON_DAYS",
    "MAX_DUE_UNIX",
    "MIN_BACKTEST_EACH",
    "MIN_WALLETS",
    "PRIOR_PARAMS_WEEKS",
    "CalibrationBin",
    "ChurnBacktest",
    "ChurnLayer",
    "ChurnModel",
    "ChurnParams",
    "FitResult",
    "ModelKind",
    "ModelName",
    "Row",
    "WalletRisk",
    "activity_summary",
    "at_risk_threshold",
    "auc",
    "backtest",
    "bgnbd_log_likelihood",
    "calibration_table",
    "due_time",
    "end_day_of",
    "fit",
    "fit_bgnbd",
    "fit_churn",
    "fit_from_activity",
    "fit_layer",
    "fit_mbgnbd",
    "flag_candidates",
    "gap_regularity",
    "log_likelihood",
    "mbgnbd_log_likelihood",
    "p_alive",
    "prior_model",
    "risk_due_time",
    "risk_from_summary",
    "risk_of_silence",
    "risk_percentile",
    "silence_probability",
    "silent_between",
    "truncate",
    "wallet_churn",
    "wallet_risk",
]
