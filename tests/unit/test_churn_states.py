"""Churn-state transitions: exited and dormant from balances and ages, at risk from P(alive),
resurrected when a wallet comes back after a dormant-length silence (and only for a while)."""

from __future__ import annotations

from shared.intel import next_churn_state
from shared.profiles.model import WalletProfile
from shared.settings import Settings

S = Settings()
DAY = 86_400
DORMANT = S.labels.dormant_days


def _active_on(*days: int) -> WalletProfile:
    return WalletProfile(address="0x" + "1" * 40, active_days={str(d): 1 for d in days})


def test_balance_and_age_states_win_over_the_model():
    assert next_churn_state(_active_on(1), "exited", 0.99, 0, S) == "exited"
    assert next_churn_state(_active_on(1), "dormant", 0.99, 0, S) == "dormant"


def test_a_low_p_alive_marks_an_otherwise_active_wallet_at_risk():
    assert next_churn_state(_active_on(1, 2), "active", 0.3, 3 * DAY, S) == "at_risk"
    assert next_churn_state(_active_on(1, 2), "active", 0.7, 3 * DAY, S) == "active"


def test_a_wallet_back_after_a_long_silence_is_resurrected_for_a_while():
    profile = _active_on(10, 11, 11 + DORMANT + 5)
    back = (11 + DORMANT + 5) * DAY
    assert next_churn_state(profile, "active", 0.9, back + 3 * DAY, S) == "resurrected"
    assert next_churn_state(profile, "active", 0.9, back + DORMANT * DAY, S) == "active"


def test_the_verdict_does_not_depend_on_when_the_wallet_is_evaluated():
    # steady activity, evaluated at any time while it stays active, is never "resurrected"
    profile = _active_on(*range(0, 200, 7))
    for now_day in (50, 120, 199):
        assert next_churn_state(profile, "active", 0.9, now_day * DAY, S) == "active"
