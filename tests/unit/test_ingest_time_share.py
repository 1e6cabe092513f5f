"""One ingest run's time, shared between its chains so that one far behind never starves the others."""

from __future__ import annotations

import math

from shared.ingest import time_reserved_for_later_chains


def test_each_chain_gets_an_equal_share_of_what_is_left_at_its_turn() -> None:
    # Given 60 s left and three chains: the first keeps 40 s for the two after it
    assert time_reserved_for_later_chains(60.0, 2) == 40.0
    # and if it finished with 50 s left, the second keeps 25 s for the last, which gets all that remains
    assert time_reserved_for_later_chains(50.0, 1) == 25.0
    assert time_reserved_for_later_chains(25.0, 0) == 0.0


def test_without_a_deadline_or_with_none_left_nothing_is_reserved() -> None:
    assert time_reserved_for_later_chains(math.inf, 3) == 0.0
    assert time_reserved_for_later_chains(-1.0, 2) == 0.0
