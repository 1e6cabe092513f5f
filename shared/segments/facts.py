"""What segment rules read about one wallet (WalletFacts), gathered once per evaluation."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import get_args

from shared import loyalty as loyalty_formula
from shared import scoring
from shared.labels import churn_state as derive_churn_state
from shared.labels import labels_for
from shared.profiles.model import Holding, WalletProfile
from shared.segments.rules import HealthBand, ProfileField
from shared.settings import LabelSettings, LoyaltySettings, ScoreSettings, Settings

# Labels that labels_for derives from the wallet alone; any other label (whale) comes from the population.
PROFILE_LABELS = frozenset({"voter", "collector", "new_holder", "diamond_hands", "staker", "flipper"})
# Churn states that shared.labels.churn_state derives; others come from the P(alive) model.
DERIVED_CHURN_STATES = frozenset({"active", "dormant", "exited"})

# every field a rule may compare, and the facts the other conditions read
FACT_NAMES = frozenset(get_args(ProfileField)) | {
    "holdings",
    "labels",
    "churn_state",
    "tags",
    "chains",
    "health",
    "tier",
    "staking",
}
# Health bands from the safest; a `health` condition with or_worse matches its band and those after it.
HEALTH_BANDS: tuple[str, ...] = get_args(HealthBand)


@dataclass(frozen=True)
class WalletFacts:
    """Everything a rule reads about one wallet at one instant."""

    profile: WalletProfile
    holdings: Sequence[Holding]
    labels: AbstractSet[str]
    churn_state: str
    tags: AbstractSet[str]
    now: int
    score_now: float
    score_settings: ScoreSettings = field(default_factory=ScoreSettings)
    label_settings: LabelSettings = field(default_factory=LabelSettings)
    # When the churn model's P(alive) next crosses its threshold; it bounds time_sensitivity of churn rules.
    churn_due: int | None = None
    # Lending: (chain id, band) of each borrowing position, and the lowest health factor among them
    health: tuple[tuple[int, str], ...] = ()
    min_health_factor: float | None = None
    # Loyalty: the formula's inputs (None: not derived), and its points and tier at `now`
    loyalty: loyalty_formula.LoyaltyInputs | None = None
    loyalty_settings: LoyaltySettings = field(default_factory=LoyaltySettings)
    loyalty_points: float | None = None
    tier: str | None = None

    @classmethod
    def of(
        cls,
        profile: WalletProfile,
        holdings: Sequence[Holding],
        now: int,
        *,
        settings: Settings | None = None,
        tags: Iterable[str] = (),
        population_labels: Iterable[str] = (),
        churn_state: str | None = None,
        churn_due: int | None = None,
        health: Iterable[tuple[int, str]] = (),
        min_health_factor: float | None = None,
        loyalty: loyalty_formula.LoyaltyInputs | None = None,
    ) -> WalletFacts:
        """Facts derived the same way the wallet view derives them.

        population_labels are labels that depend on other wallets (whale); churn_state overrides the
        derived state when the P(alive) model has its own verdict (at_risk, resurrected). health and
        loyalty come from the wallet's lending records (shared.intel derives them).
        """
        settings = settings or Settings()
        points, tier = _loyalty_at(loyalty, now, settings.loyalty)
        return cls(
            profile=profile,
            holdings=tuple(holdings),
            labels=frozenset(population_labels) | frozenset(labels_for(profile, list(holdings), now, settings.labels)),
            churn_state=churn_state or derive_churn_state(profile, list(holdings), now, settings.labels),
            tags=frozenset(tags),
            now=now,
            score_now=scoring.score_at(profile.score, now, settings.score),
            score_settings=settings.score,
            label_settings=settings.labels,
            churn_due=churn_due,
            health=tuple(sorted(health)),
            min_health_factor=min_health_factor,
            loyalty=loyalty,
            loyalty_settings=settings.loyalty,
            loyalty_points=points,
            tier=tier,
        )

    def at(self, t: int) -> WalletFacts:
        """The same wallet at another instant, assuming no new event: what the sweep will see then."""
        holdings = list(self.holdings)
        labels = (frozenset(self.labels) - PROFILE_LABELS) | frozenset(
            labels_for(self.profile, holdings, t, self.label_settings)
        )
        churn = self.churn_state
        if churn in DERIVED_CHURN_STATES:
            churn = derive_churn_state(self.profile, holdings, t, self.label_settings)
        points, tier = _loyalty_at(self.loyalty, t, self.loyalty_settings)
        return dataclasses.replace(
            self,
            labels=labels,
            churn_state=churn,
            loyalty_points=points,
            tier=tier,
            now=t,
            score_now=scoring.score_at(self.profile.score, t, self.score_settings),
        )


def _loyalty_at(
    inputs: loyalty_formula.LoyaltyInputs | None, t: int, settings: LoyaltySettings
) -> tuple[float | None, str | None]:
    if inputs is None:
        return None, None
    points = loyalty_formula.points_at(inputs, t, settings)
    return points, loyalty_formula.tier_for(points, settings)
