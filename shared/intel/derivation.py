"""Churn state, its transitions, and when time alone can next change the time-based labels."""

from __future__ import annotations

from shared import churn
from shared.intel.models import MAX_TRANSITIONS, ChurnState, Transition, WalletState
from shared.profiles.model import DAY, Holding, WalletProfile
from shared.settings import Settings


def came_back_at(profile: WalletProfile, settings: Settings) -> int | None:
    """Start of the wallet's latest activity after a silence of at least `dormant_days`, if any.

    Read off the active days alone, so it does not depend on when (or how late, during a backfill)
    the wallet happens to be evaluated.
    """
    days = sorted(int(d) for d, n in profile.active_days.items() if n > 0)
    for earlier, later in zip(reversed(days[:-1]), reversed(days[1:]), strict=True):
        if later - earlier >= settings.labels.dormant_days:
            return later * DAY
    return None


def next_churn_state(
    profile: WalletProfile,
    derived: str,
    p_alive: float,
    now: int,
    settings: Settings,
    *,
    at_risk: bool | None = None,
) -> ChurnState:
    """exited and dormant come from balances and ages; at_risk from the churn risk (`at_risk`, the model's
    verdict) or, for a model without a risk threshold, from P(alive); resurrected is a wallet that came back
    after a dormant-length silence, for `dormant_days` after its return."""
    if derived in ("exited", "dormant"):
        return derived  # type: ignore[return-value]
    if at_risk if at_risk is not None else p_alive < settings.labels.at_risk_p_alive:
        return "at_risk"
    returned = came_back_at(profile, settings)
    if returned is not None and now - returned < settings.labels.dormant_days * DAY:
        return "resurrected"
    return "active"


def label_due(
    profile: WalletProfile,
    holdings: list[Holding],
    state_name: str,
    settings: Settings,
) -> list[int | None]:
    """When the time-based labels and states can next change with no event."""
    labels = settings.labels
    due: list[int | None] = []
    if profile.last_active is not None:
        due.append(profile.last_active + labels.dormant_days * DAY)
    if profile.first_seen is not None:
        due.append(profile.first_seen + labels.new_holder_days * DAY + 1)
    due += [h.holding_since + labels.diamond_hands_days * DAY for h in holdings if h.holding_since is not None]
    returned = came_back_at(profile, settings)
    if state_name == "resurrected" and returned is not None:
        due.append(returned + labels.dormant_days * DAY)
    return due


def next_state(
    address: str,
    previous: WalletState | None,
    state_name: ChurnState,
    labels: list[str],
    p_alive: float,
    due: int | None,
    now: int,
    risk: churn.WalletRisk | None = None,
) -> WalletState:
    transitions = list(previous.transitions) if previous else []
    since = previous.churn_since if previous else now
    if previous is None or previous.churn_state != state_name:
        transitions.append(
            Transition(from_state=previous.churn_state if previous else "new", to_state=state_name, at=now)
        )
        since = now
    return WalletState(
        address=address,
        churn_state=state_name,
        churn_since=since,
        transitions=transitions[-MAX_TRANSITIONS:],
        labels=labels,
        p_alive=round(p_alive, 6),
        churn_risk=round(risk.risk, 6) if risk else None,
        churn_risk_percentile=round(risk.percentile, 2) if risk and risk.percentile is not None else None,
        churn_risk_horizon_days=risk.horizon_days if risk else None,
        churn_risk_due=risk.due if risk else None,
        due=due,
        evaluated_at=now,
    )
