"""Loyalty points and tiers against a plain reference computation, and when a tier moves by time alone."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.loyalty import LoyaltyInputs, first_reaching, loyalty, next_change, points_at, tier_for
from shared.settings import LoyaltySettings, LoyaltyTier

DAY = 86_400
NOW = 1_750_000_000


def reference_points(
    holding_since: list[int],
    volume: float,
    votes: int,
    repays: list[int],
    first_warned_at: int | None,
    liquidated: bool,
    borrower: bool,
    now: int,
    s: LoyaltySettings,
) -> float:
    """The formula as written in the issue, spelled out without the module's helpers."""
    longest = 0.0
    for since in holding_since:
        if since <= now and (now - since) / DAY > longest:
            longest = (now - since) / DAY
    total = min(longest, s.max_held_days) * s.points_per_held_day
    total += math.log10(1 + volume) * s.points_per_volume_decade
    total += min(votes, s.max_votes) * s.points_per_vote
    if borrower and not liquidated:
        before_warning = 0
        for t in repays:
            if first_warned_at is None or t < first_warned_at:
                before_warning += 1
        total += min(before_warning, s.max_disciplined_repays) * s.points_per_disciplined_repay
        total += s.never_liquidated_bonus
    return total


def reference_tier(points: float, s: LoyaltySettings) -> str:
    tier = s.tiers[0].name
    for t in s.tiers:
        if points >= t.min_points:
            tier = t.name
    return tier


inputs_strategy = st.builds(
    LoyaltyInputs,
    holding_since=st.lists(st.integers(NOW - 800 * DAY, NOW + DAY), max_size=4).map(tuple),
    volume=st.floats(0, 1e12, allow_nan=False),
    votes=st.integers(0, 100),
    repays=st.lists(st.integers(NOW - 400 * DAY, NOW), max_size=30).map(tuple),
    first_warned_at=st.none() | st.integers(NOW - 400 * DAY, NOW),
    liquidated=st.booleans(),
    borrower=st.booleans(),
)
settings_strategy = st.builds(
    LoyaltySettings,
    version=st.integers(1, 9),
    points_per_held_day=st.floats(0, 5),
    max_held_days=st.integers(0, 800),
    points_per_volume_decade=st.floats(0, 50),
    points_per_vote=st.floats(0, 20),
    max_votes=st.integers(0, 50),
    points_per_disciplined_repay=st.floats(0, 30),
    max_disciplined_repays=st.integers(0, 40),
    never_liquidated_bonus=st.floats(0, 100),
)


@settings(max_examples=300)
@given(inputs_strategy, settings_strategy, st.integers(0, 400 * DAY))
def test_points_and_tier_match_the_reference(inputs: LoyaltyInputs, formula: LoyaltySettings, later: int) -> None:
    # Given any wallet behaviour and any formula, at some instant
    now = NOW + later
    expected = reference_points(
        list(inputs.holding_since),
        inputs.volume,
        inputs.votes,
        list(inputs.repays),
        inputs.first_warned_at,
        inputs.liquidated,
        inputs.borrower,
        now,
        formula,
    )

    # When the module computes the wallet's loyalty
    result = loyalty(inputs, now, formula)

    # Then points, tier and version are the reference's
    assert points_at(inputs, now, formula) == pytest.approx(expected, rel=1e-12, abs=1e-9)
    assert result.tier == reference_tier(points_at(inputs, now, formula), formula)
    assert result.version == formula.version
    assert sum(result.components.values()) == pytest.approx(expected, rel=1e-9, abs=1e-5)


def test_repayments_count_only_before_the_first_warning_and_a_liquidation_voids_them() -> None:
    s = LoyaltySettings()
    disciplined = LoyaltyInputs(repays=(NOW - 10 * DAY, NOW - 5 * DAY), borrower=True)
    warned = disciplined.model_copy(update={"first_warned_at": NOW - 7 * DAY})
    liquidated = disciplined.model_copy(update={"liquidated": True})
    assert loyalty(disciplined, NOW, s).components["discipline"] == 2 * 15 + 50
    assert loyalty(warned, NOW, s).components["discipline"] == 1 * 15 + 50
    assert loyalty(liquidated, NOW, s).components["discipline"] == 0


def test_tiers_are_versioned_settings() -> None:
    s = LoyaltySettings(
        version=2, tiers=[LoyaltyTier(name="member", min_points=0), LoyaltyTier(name="vip", min_points=50)]
    )
    voter = LoyaltyInputs(votes=5)
    assert loyalty(voter, NOW, s).tier == "vip" and loyalty(voter, NOW, s).version == 2
    assert loyalty(voter, NOW, LoyaltySettings()).tier == "bronze"
    with pytest.raises(ValueError, match="strictly ascending"):
        LoyaltySettings(tiers=[LoyaltyTier(name="a", min_points=10)])


@given(inputs_strategy, st.integers(0, 300 * DAY))
def test_next_change_is_exactly_when_the_tier_moves_by_time(inputs: LoyaltyInputs, later: int) -> None:
    # Given a wallet at some instant
    s = LoyaltySettings()
    now = NOW + later
    tier_now = tier_for(points_at(inputs, now, s), s)

    # When the next tier change by time alone is computed
    due = next_change(inputs, now, s)

    # Then the tier holds until just before it and has moved at it; with no due it never moves
    if due is None:
        assert tier_for(points_at(inputs, now + 5_000 * DAY, s), s) == tier_now
    else:
        assert due > now
        assert tier_for(points_at(inputs, due - 1, s), s) == tier_now
        assert tier_for(points_at(inputs, due, s), s) != tier_now


def test_first_reaching_agrees_to_the_second() -> None:
    s = LoyaltySettings()
    holder = LoyaltyInputs(holding_since=(NOW,))
    due = first_reaching(holder, NOW, 100.0, s)
    assert due == NOW + 200 * DAY  # 0.5 points a day
    assert points_at(holder, due - 1, s) < 100 <= points_at(holder, due, s)
    assert first_reaching(holder, NOW, 1_000.0, s) is None  # holding points stop at 365 days
