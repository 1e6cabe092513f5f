"""The wallet intelligence records: the stored state of a wallet, its loaded inputs, and what one
invocation shares across wallets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from shared import churn
from shared.intel.lending_records import LendingRecords
from shared.profiles.model import Holding, WalletProfile
from shared.settings import Settings

ChurnState = Literal["active", "at_risk", "dormant", "exited", "resurrected"]
MAX_TRANSITIONS = 20


class Transition(BaseModel):
    from_state: str
    to_state: str
    at: int


class WalletState(BaseModel):
    address: str
    churn_state: ChurnState = "active"
    churn_since: int = 0
    transitions: list[Transition] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    p_alive: float | None = None
    # P(no activity in the next churn_risk_horizon_days days), its percentile in the fitted population, and
    # when it reaches the model's at-risk threshold if the wallet stays silent (shared.churn.wallet_risk)
    churn_risk: float | None = None
    churn_risk_percentile: float | None = None
    churn_risk_horizon_days: float | None = None
    churn_risk_due: int | None = None
    due: int | None = None
    evaluated_at: int = 0
    # the segments the wallet is a member of; written in one transaction with the MEMBER# items
    segments: list[str] | None = None
    # loyalty: the tier and points of the formula version that computed them
    tier: str | None = None
    loyalty_points: float | None = None
    loyalty_version: int | None = None


@dataclass
class WalletInputs:
    profile: WalletProfile
    holdings: list[Holding]
    tags: set[str]
    state: WalletState | None
    state_version: int
    contact_ids: list[str] = field(default_factory=list)
    lending: LendingRecords = field(default_factory=LendingRecords)


@dataclass
class Context:
    """What one invocation shares across wallets: the settings, model and whale cut-offs."""

    settings: Settings
    model: churn.ChurnModel
    whale_floor: dict[tuple[int, str], int] = field(default_factory=dict)
    supply: dict[tuple[int, str], float] = field(default_factory=dict)
