"""The score formula: decay, reversibility, order independence and explanation."""

from __future__ import annotations

import itertools
import math

import pytest

from shared import scoring
from shared.settings import ScoreSettings

S = ScoreSettings()
DAY = 86_400


def test_a_contribution_halves_after_one_half_life():
    # Given one outgoing transfer of 100 tokens
    state = scoring.ScoreState()
    scoring.add(state, "transfer_out", 100, at=0, settings=S)
    # Then its value now is w·log1p(100), and half of it 30 days later
    assert scoring.score_at(state, 0, S) == pytest.approx(math.log1p(100))
    assert scoring.score_at(state, 30 * DAY, S) == pytest.approx(math.log1p(100) / 2)


def test_governance_decays_on_its_own_longer_half_life():
    state = scoring.ScoreState()
    scoring.add(state, "vote", 1, at=0, settings=S)
    assert scoring.score_at(state, 90 * DAY, S) == pytest.approx(S.weight_vote * math.log1p(1) / 2)


def test_order_of_events_does_not_change_the_score():
    events = [("transfer_out", 5.0, 10 * DAY), ("transfer_in", 50.0, 2 * DAY), ("transfer_out", 1.0, 40 * DAY)]
    results = []
    for order in itertools.permutations(events):
        state = scoring.ScoreState()
        for component, size, at in order:
            scoring.add(state, component, size, at, S)
        results.append(scoring.score_at(state, 60 * DAY, S))
    assert max(results) - min(results) < 1e-9


def test_taking_an_event_back_restores_the_previous_score():
    state = scoring.ScoreState()
    scoring.add(state, "transfer_out", 7, at=DAY, settings=S)
    before = scoring.score_at(state, 50 * DAY, S)
    scoring.add(state, "transfer_out", 3, at=20 * DAY, settings=S)
    scoring.add(state, "transfer_out", 3, at=20 * DAY, settings=S, sign=-1)
    assert scoring.score_at(state, 50 * DAY, S) == pytest.approx(before)
    scoring.add(state, "transfer_out", 7, at=DAY, settings=S, sign=-1)
    assert state.components == {}


def test_explanation_sums_to_the_score_and_names_each_component():
    state = scoring.ScoreState()
    scoring.add(state, "transfer_out", 10, at=0, settings=S)
    scoring.add(state, "vote", 1, at=0, settings=S)
    parts = scoring.explain(state, 10 * DAY, S)
    assert {p.component for p in parts} == {"transfer_out", "vote"}
    assert sum(p.value_now for p in parts) == pytest.approx(scoring.score_at(state, 10 * DAY, S), rel=1e-5)
    assert sum(p.share for p in parts) == pytest.approx(1.0, abs=1e-3)


def test_rank_key_orders_like_the_score():
    low, high = scoring.ScoreState(), scoring.ScoreState()
    scoring.add(low, "transfer_out", 1, at=0, settings=S)
    scoring.add(high, "transfer_out", 1000, at=0, settings=S)
    assert scoring.rank_key(low, 0, S) < scoring.rank_key(high, 0, S)
