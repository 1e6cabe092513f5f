"""A wallet as it reads now: its summary, labels, churn verdict, segments, tags and counters.

Score and churn risk decay with silence, so both are evaluated at read time with the current churn
model; the labels and churn state are the segments function's derivation once it has run, and the
wallet-only derivation until then. The API's wallet view and a campaign's template facts both read this.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared import churn, scoring
from shared.intel.churn_store import load_churn_model
from shared.intel.models import WalletInputs
from shared.labels import churn_state, labels_for
from shared.profiles.model import WalletProfile
from shared.settings import Settings


class WalletSummary(BaseModel):
    address: str
    score: float
    last_active: int | None
    first_seen: int | None
    chains: list[int]


class WalletOverview(WalletSummary):
    labels: list[str]
    churn_state: str
    churn_since: int | None
    p_alive: float | None = Field(description="probability the wallet is still active (MBG/NBD), when evaluated")
    churn_risk: float | None = Field(
        description="probability of no activity in the next churn_risk_horizon_days days (GET /churn/model)",
    )
    churn_risk_percentile: float | None = Field(
        description="percentile (0-100) of churn_risk among the wallets of the latest fit"
    )
    churn_risk_horizon_days: float | None = Field(description="H of churn_risk")
    churn_risk_due: int | None = Field(description="unix second from which the wallet is at risk if it stays silent")
    segments: list[str] = Field(description="ids of the segments the wallet is a member of")
    tags: list[str]
    score_formula_version: int
    distinct_active_days: int
    transfers_in: int
    transfers_out: int
    votes: int
    last_vote: int | None
    liquidations: int


def summarize(profile: WalletProfile, now: int, settings: Settings) -> WalletSummary:
    return WalletSummary(
        address=profile.address,
        score=round(scoring.score_at(profile.score, now, settings.score), 6),
        last_active=profile.last_active,
        first_seen=profile.first_seen,
        chains=sorted(int(c) for c in profile.chains),
    )


def overview(inputs: WalletInputs, now: int, settings: Settings) -> WalletOverview:
    profile, holdings, state = inputs.profile, inputs.holdings, inputs.state
    p_alive, risk = _churn_now(profile, now, settings)
    return WalletOverview(
        **summarize(profile, now, settings).model_dump(),
        labels=state.labels if state else labels_for(profile, holdings, now, settings.labels),
        churn_state=state.churn_state if state else churn_state(profile, holdings, now, settings.labels),
        churn_since=state.churn_since if state else None,
        p_alive=p_alive,
        churn_risk=round(risk.risk, 6) if risk else None,
        churn_risk_percentile=round(risk.percentile, 2) if risk and risk.percentile is not None else None,
        churn_risk_horizon_days=risk.horizon_days if risk else None,
        churn_risk_due=risk.due if risk else None,
        segments=state.segments or [] if state else [],
        tags=sorted(inputs.tags),
        score_formula_version=profile.score.version,
        distinct_active_days=profile.distinct_active_days,
        transfers_in=profile.transfers_in,
        transfers_out=profile.transfers_out,
        votes=profile.votes,
        last_vote=profile.last_vote,
        liquidations=profile.liquidations,
    )


def _churn_now(profile: WalletProfile, now: int, settings: Settings) -> tuple[float | None, churn.WalletRisk | None]:
    if profile.first_seen is None:
        return None, None
    model = load_churn_model(settings)
    days = [int(d) for d in profile.active_days]
    p_alive, _ = churn.wallet_churn(model, profile.first_seen, days, now)
    return round(p_alive, 6), churn.wallet_risk(model, profile.first_seen, days, now)
