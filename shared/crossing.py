"""The first second at which a condition that only ever turns true with time holds.

Due dates (a decaying score falling to a threshold, loyalty points growing to a tier) are found by
search on the very formula evaluation uses, so a date and the evaluation at that date agree to the
second.
"""

from __future__ import annotations

from collections.abc import Callable


def first_second(below: int, above: int, reached: Callable[[int], bool]) -> int:
    """The least t in (below, above] with reached(t), given not reached(below) and reached(above)."""
    while above - below > 1:
        middle = (below + above) // 2
        if reached(middle):
            above = middle
        else:
            below = middle
    return above
