"""Loyalty points and tiers from on-chain behaviour: pure, versioned, and explainable by component.

Points at instant t (weights and caps from LoyaltySettings, whose `version` is stamped on results):
  holding     points_per_held_day x min(days the longest current ERC-20 holding has lasted, max_held_days)
  volume      points_per_volume_decade x log10(1 + ERC-20 volume in and out, in token units)
  governance  points_per_vote x min(votes, max_votes)
  discipline  for a borrower never liquidated: points_per_disciplined_repay x min(repayments made before
              the wallet's first health warning, max_disciplined_repays) + never_liquidated_bonus;
              a liquidated wallet gets none
The tier is the highest whose min_points the total reaches. Only `holding` grows with time alone, so
points never decrease between events, and `next_change` can say when the tier will next move.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from shared.crossing import first_second
from shared.settings import LoyaltySettings

DAY = 86_400
MAX_UNIX = 999_999_999_999


class LoyaltyInputs(BaseModel):
    """What the formula reads about one wallet; everything but time is fixed between events."""

    model_config = ConfigDict(frozen=True)

    holding_since: tuple[int, ...] = ()  # start of each ERC-20 holding held now
    volume: float = Field(default=0.0, ge=0)  # ERC-20 units moved, in and out
    votes: int = Field(default=0, ge=0)
    repays: tuple[int, ...] = ()  # block times of the wallet's repayments
    first_warned_at: int | None = None  # first block time any of its pools left the safe band
    liquidated: bool = False
    borrower: bool = False  # owes, or has owed, something in a tracked pool


class Loyalty(BaseModel):
    version: int
    points: float
    tier: str
    components: dict[str, float]


def held_days(inputs: LoyaltyInputs, now: int) -> float:
    return max(((now - since) / DAY for since in inputs.holding_since if since <= now), default=0.0)


def disciplined_repays(inputs: LoyaltyInputs) -> int:
    if inputs.liquidated:
        return 0
    warned = inputs.first_warned_at
    return sum(1 for t in inputs.repays if warned is None or t < warned)


def components(inputs: LoyaltyInputs, now: int, settings: LoyaltySettings) -> dict[str, float]:
    discipline = 0.0
    if inputs.borrower and not inputs.liquidated:
        repays = min(disciplined_repays(inputs), settings.max_disciplined_repays)
        discipline = repays * settings.points_per_disciplined_repay + settings.never_liquidated_bonus
    return {
        "holding": min(held_days(inputs, now), settings.max_held_days) * settings.points_per_held_day,
        "volume": math.log10(1 + inputs.volume) * settings.points_per_volume_decade,
        "governance": min(inputs.votes, settings.max_votes) * settings.points_per_vote,
        "discipline": discipline,
    }


def points_at(inputs: LoyaltyInputs, now: int, settings: LoyaltySettings) -> float:
    return sum(components(inputs, now, settings).values())


def tier_for(points: float, settings: LoyaltySettings) -> str:
    reached = [t.name for t in settings.tiers if points >= t.min_points]
    return reached[-1]


def loyalty(inputs: LoyaltyInputs, now: int, settings: LoyaltySettings) -> Loyalty:
    parts = components(inputs, now, settings)
    total = sum(parts.values())
    return Loyalty(
        version=settings.version,
        points=round(total, 6),
        tier=tier_for(total, settings),
        components={k: round(v, 6) for k, v in parts.items()},
    )


def tier_order(settings: LoyaltySettings) -> Sequence[str]:
    return [t.name for t in settings.tiers]


def first_reaching(
    inputs: LoyaltyInputs, now: int, threshold: float, settings: LoyaltySettings, strict: bool = False
) -> int | None:
    """The first whole second after now at which points >= threshold (> with strict); None if never
    by time alone. Found by search on points_at itself, so it agrees to the second with evaluation."""

    def reached(t: int) -> bool:
        value = points_at(inputs, t, settings)
        return value > threshold if strict else value >= threshold

    if reached(now):
        return None  # already there, and points never fall without an event
    # a holding stamped after `now` (a chain clock ahead of the wall clock) starts growing later, still by time
    growing = settings.points_per_held_day > 0 and bool(inputs.holding_since)
    if not growing:
        return None
    oldest = min(inputs.holding_since)
    horizon = oldest + settings.max_held_days * DAY + 1  # holding points stop growing here
    if horizon <= now or not reached(min(horizon, MAX_UNIX)):
        return None
    below, above = now, min(horizon, MAX_UNIX)
    return first_second(below, above, reached)


def next_change(inputs: LoyaltyInputs, now: int, settings: LoyaltySettings) -> int | None:
    """When the tier next moves up by time alone (None: only an event can move it)."""
    current = points_at(inputs, now, settings)
    higher = [t.min_points for t in settings.tiers if t.min_points > current]
    return first_reaching(inputs, now, higher[0], settings) if higher else None
