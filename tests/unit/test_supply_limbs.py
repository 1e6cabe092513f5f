"""The exact token supply: any uint256 delta splits into limbs that DynamoDB adds without rounding."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.profiles.store import SUPPLY_LIMB, supply_from_limbs, supply_limbs

UINT = st.integers(min_value=-(2**256 - 1), max_value=2**256 - 1)


@given(st.lists(UINT, max_size=30))
def test_limb_sums_are_exact_for_any_sequence_of_mints_and_burns(deltas: list[int]) -> None:
    # Given the running limb sums DynamoDB's ADD would keep
    running = [0, 0, 0]
    for delta in deltas:
        running = [a + b for a, b in zip(running, supply_limbs(delta), strict=True)]
        # Then each limb stays far inside a DynamoDB number's 38 digits
        assert all(abs(limb) < SUPPLY_LIMB * 10**11 for limb in running)
    # And the limbs add up to the exact total
    assert supply_from_limbs(running) == sum(deltas)
