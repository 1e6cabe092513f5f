"""The engagement score: the one place its formula lives (docs/architecture.md, "Profiles, scores and rules").

Each component keeps (S, t_S). An event of weight w and size x at time t adds w·log1p(x), decayed
with the component's half-life h:  S ← S·2^(-(t - t_S)/h) + w·log1p(x)  (or the contribution is
decayed back to t_S when the event is older). The sum of decaying contributions is commutative and
exactly reversible, so out-of-order delivery and reorg rollbacks cannot bend the score.
The score is read as S·2^(-(now - t_S)/h), summed over components.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from shared.settings import ScoreSettings

FORMULA_VERSION = 1
DAY = 86_400

Component = Literal["transfer_out", "transfer_in", "nft", "vote", "lending"]
GOVERNANCE_COMPONENTS: frozenset[str] = frozenset({"vote"})


class ComponentState(BaseModel):
    s: float = 0.0
    t: int = 0


class ScoreState(BaseModel):
    version: int = FORMULA_VERSION
    components: dict[str, ComponentState] = Field(default_factory=dict)


@dataclass(frozen=True)
class ComponentExplanation:
    component: str
    weight: float
    half_life_days: float
    value_now: float
    share: float


def weight_of(component: str, settings: ScoreSettings) -> float:
    return {
        "transfer_out": settings.weight_transfer,
        "transfer_in": settings.weight_transfer / 2,  # receiving (an airdrop, say) is the weaker signal
        "nft": settings.weight_nft,
        "vote": settings.weight_vote,
        "lending": settings.weight_lending,
    }[component]


def half_life_seconds(component: str, settings: ScoreSettings) -> float:
    days = (
        settings.half_life_days_governance if component in GOVERNANCE_COMPONENTS else settings.half_life_days_activity
    )
    return days * DAY


def contribution(component: str, size: float, settings: ScoreSettings) -> float:
    return weight_of(component, settings) * math.log1p(max(size, 0.0))


def add(state: ScoreState, component: str, size: float, at: int, settings: ScoreSettings, sign: int = 1) -> None:
    """Add (sign=+1) or take back (sign=-1) one event's contribution, in place."""
    value = sign * contribution(component, size, settings)
    h = half_life_seconds(component, settings)
    current = state.components.get(component, ComponentState())
    if current.s == 0.0 and sign > 0:
        current = ComponentState(s=value, t=at)
    elif at >= current.t:
        current = ComponentState(s=current.s * 2 ** (-(at - current.t) / h) + value, t=at)
    else:
        current = ComponentState(s=current.s + value * 2 ** (-(current.t - at) / h), t=current.t)
    if abs(current.s) < 1e-9:
        state.components.pop(component, None)
    else:
        state.components[component] = current


def score_at(state: ScoreState, now: int, settings: ScoreSettings) -> float:
    return sum(_decayed(name, c, now, settings) for name, c in state.components.items())


def explain(state: ScoreState, now: int, settings: ScoreSettings) -> list[ComponentExplanation]:
    values = {name: _decayed(name, c, now, settings) for name, c in state.components.items()}
    total = sum(values.values()) or 1.0
    return [
        ComponentExplanation(
            component=name,
            weight=weight_of(name, settings),
            half_life_days=half_life_seconds(name, settings) / DAY,
            value_now=round(value, 6),
            share=round(value / total, 4),
        )
        for name, value in sorted(values.items(), key=lambda kv: -kv[1])
    ]


def rank_key(state: ScoreState, now: int, settings: ScoreSettings) -> str:
    """Sort key for the by-score index: the score when the profile was last written, fixed-point."""
    return f"{max(score_at(state, now, settings), 0.0) * 1e6:020.0f}"


def _decayed(name: str, component: ComponentState, now: int, settings: ScoreSettings) -> float:
    return max(component.s * 2 ** (-(max(now - component.t, 0)) / half_life_seconds(name, settings)), 0.0)
