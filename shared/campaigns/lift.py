"""Intent-to-treat lift of a campaign: the difference of two conversion rates, with Newcombe's
hybrid score interval (Wilson intervals combined), which behaves at small counts and rates near
zero, where the textbook Wald interval collapses or overshoots."""

from __future__ import annotations

import math

from shared.campaigns.model import Lift

Z95 = 1.959963984540054


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def itt_lift(treated_converted: int, treated: int, held_converted: int, held: int) -> Lift:
    if treated == 0 or held == 0:
        rate_t = treated_converted / treated if treated else None
        rate_h = held_converted / held if held else None
        return Lift(
            treatment_rate=rate_t,
            holdout_rate=rate_h,
            absolute_lift=None,
            ci95_low=None,
            ci95_high=None,
            relative_lift=None,
        )
    p1, p2 = treated_converted / treated, held_converted / held
    l1, u1 = wilson(treated_converted, treated)
    l2, u2 = wilson(held_converted, held)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Lift(
        treatment_rate=p1,
        holdout_rate=p2,
        absolute_lift=difference,
        ci95_low=low,
        ci95_high=high,
        relative_lift=difference / p2 if p2 > 0 else None,
    )
