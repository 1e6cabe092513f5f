"""The wallet facts a message template may use (docs/architecture.md, "Campaigns").

The same read-time values the wallet view shows (score and churn risk decay with silence, so both are
evaluated now), read through the intel and profiles contexts rather than the API's read model.
"""

from __future__ import annotations

import time
from typing import Any

from shared import churn, scoring
from shared.intel import load_churn_model, load_wallet
from shared.labels import churn_state, labels_for
from shared.settings import Settings


def wallet_facts(address: str, settings: Settings, now: int | None = None) -> dict[str, Any] | None:
    """The wallet's profile, labels, churn verdict, segments and tags, or None for an unknown wallet."""
    now = now or int(time.time())
    inputs = load_wallet(address.lower(), settings)
    if inputs is None:
        return None
    profile, holdings, state = inputs.profile, inputs.holdings, inputs.state
    p_alive: float | None = None
    risk: churn.WalletRisk | None = None
    if profile.first_seen is not None:
        model = load_churn_model(settings)
        days = [int(d) for d in profile.active_days]
        p_alive = round(churn.wallet_churn(model, profile.first_seen, days, now)[0], 6)
        risk = churn.wallet_risk(model, profile.first_seen, days, now)
    return {
        "address": profile.address,
        "score": round(scoring.score_at(profile.score, now, settings.score), 6),
        "last_active": profile.last_active,
        "first_seen": profile.first_seen,
        "chains": sorted(int(c) for c in profile.chains),
        # the segments function's derivation once it has run; the wallet-only derivation until then
        "labels": state.labels if state else labels_for(profile, holdings, now, settings.labels),
        "churn_state": state.churn_state if state else churn_state(profile, holdings, now, settings.labels),
        "churn_since": state.churn_since if state else None,
        "p_alive": p_alive,
        "churn_risk": round(risk.risk, 6) if risk else None,
        "churn_risk_percentile": round(risk.percentile, 2) if risk and risk.percentile is not None else None,
        "churn_risk_horizon_days": risk.horizon_days if risk else None,
        "churn_risk_due": risk.due if risk else None,
        "segments": state.segments or [] if state else [],
        "tags": sorted(inputs.tags),
        "score_formula_version": profile.score.version,
        "distinct_active_days": profile.distinct_active_days,
        "transfers_in": profile.transfers_in,
        "transfers_out": profile.transfers_out,
        "votes": profile.votes,
        "last_vote": profile.last_vote,
        "liquidations": profile.liquidations,
    }
