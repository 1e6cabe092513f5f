"""Churn-state transitions: exited and dormant from balances and ages, at risk from P(alive),
resurrected when a lapsed wallet comes back (and only for a while)."""

from __future__ import annotations

from shared.intel import WalletState, next_churn_state
from shared.settings import Settings

S = Settings()
DAY = 86_400


def _previous(state: str, since: int = 0) -> WalletState:
    return WalletState(address="0x" + "1" * 40, churn_state=state, churn_since=since)  # type: ignore[arg-type]


def test_balance_and_age_states_win_over_the_model():
    assert next_churn_state(None, "exited", 0.99, 0, S) == "exited"
    assert next_churn_state(_previous("active"), "dormant", 0.99, 0, S) == "dormant"


def test_a_low_p_alive_marks_an_otherwise_active_wallet_at_risk():
    assert next_churn_state(_previous("active"), "active", 0.3, 0, S) == "at_risk"
    assert next_churn_state(_previous("active"), "active", 0.7, 0, S) == "active"


def test_a_lapsed_wallet_that_comes_back_is_resurrected_for_a_while():
    for lapsed in ("dormant", "exited", "at_risk"):
        assert next_churn_state(_previous(lapsed), "active", 0.9, 100 * DAY, S) == "resurrected"
    came_back = _previous("resurrected", since=100 * DAY)
    assert next_churn_state(came_back, "active", 0.9, 110 * DAY, S) == "resurrected"
    assert next_churn_state(came_back, "active", 0.9, 100 * DAY + S.labels.dormant_days * DAY, S) == "active"


def test_a_new_wallet_starts_active():
    assert next_churn_state(None, "active", 0.9, 0, S) == "active"
