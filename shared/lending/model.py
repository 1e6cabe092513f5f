"""Lending positions, health-factor bands and the alert latch: pure, free of DynamoDB and Lambda.

A position is one wallet in one pool, folded from that pool's events. Every field is a sum (amounts,
the collateral switch count) or a set keyed by event id (repayments, liquidations), so applying an
event and taking it back (sign=-1) commute: the fold is order-free, which the exactly-once store
needs when a rollback arrives after later events.

The health factor itself is never computed here: it is read from the pool (getUserAccountData) at
the block of the event, so it is exactly the pool's, interest and oracle included.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final, Literal

from pydantic import BaseModel, Field

from shared.events import LendingEvent
from shared.settings import LendingSettings

Band = Literal["safe", "warn", "urgent", "critical"]
BANDS: Final[tuple[Band, ...]] = ("safe", "warn", "urgent", "critical")
SEVERITY: Final[dict[str, int]] = {band: i for i, band in enumerate(BANDS)}
WAD: Final = 10**18
RAY: Final = 10**27
MAX_UINT256: Final = 2**256 - 1


class ReservePosition(BaseModel):
    supplied: int = 0
    borrowed: int = 0
    # ReserveUsedAsCollateralEnabled minus ...Disabled: the two alternate on chain, so the sum is 1 or 0
    # whatever order the events are applied in
    collateral_switches: int = 0

    @property
    def is_collateral(self) -> bool:
        return self.collateral_switches > 0 and self.supplied > 0

    @property
    def is_empty(self) -> bool:
        return self.supplied == 0 and self.borrowed == 0 and self.collateral_switches == 0


class PoolPosition(BaseModel):
    """One wallet in one pool: per-reserve sums, and the repayments and liquidations by event id."""

    chain_id: int
    pool: str
    address: str
    reserves: dict[str, ReservePosition] = Field(default_factory=dict)
    repays: dict[str, int] = Field(default_factory=dict)  # event id -> block time
    liquidations: dict[str, int] = Field(default_factory=dict)  # event id -> block time

    @property
    def debt_assets(self) -> list[str]:
        return sorted(asset for asset, r in self.reserves.items() if r.borrowed > 0)

    @property
    def collateral_assets(self) -> list[str]:
        return sorted(asset for asset, r in self.reserves.items() if r.is_collateral)

    @property
    def exposure(self) -> set[str]:
        """The assets whose price moves this wallet's health factor; none while it owes nothing."""
        debts = self.debt_assets
        return set(debts) | set(self.collateral_assets) if debts else set()

    @property
    def liquidated_at(self) -> int | None:
        return max(self.liquidations.values(), default=None)

    @property
    def is_empty(self) -> bool:
        return not self.reserves and not self.repays and not self.liquidations


def position_changing(event: LendingEvent) -> bool:
    return event.action != "reserve_data_updated"


def apply_lending(position: PoolPosition, event: LendingEvent, sign: int) -> None:
    """The event's effect on the position, in place; sign=-1 takes it back exactly."""
    reserve = position.reserves.setdefault(event.reserve, ReservePosition())
    action = event.action
    if action == "supply":
        reserve.supplied += sign * event.amount
    elif action == "withdraw":
        reserve.supplied -= sign * event.amount
    elif action == "borrow":
        reserve.borrowed += sign * event.amount
    elif action == "repay":
        reserve.borrowed -= sign * event.amount
        _mark(position.repays, event, sign)
    elif action == "collateral_enabled":
        reserve.collateral_switches += sign
    elif action == "collateral_disabled":
        reserve.collateral_switches -= sign
    elif action == "liquidation":
        reserve.borrowed -= sign * event.amount
        if event.collateral_asset:
            seized = position.reserves.setdefault(event.collateral_asset, ReservePosition())
            seized.supplied -= sign * event.liquidated_collateral
        _mark(position.liquidations, event, sign)
    position.reserves = {asset: r for asset, r in position.reserves.items() if not r.is_empty}


def _mark(marks: dict[str, int], event: LendingEvent, sign: int) -> None:
    if sign > 0:
        marks[event.event_id] = event.block_time
    else:
        marks.pop(event.event_id, None)


# ---- health factor bands ---------------------------------------------------------------------------


def wad(threshold: float) -> int:
    """A threshold such as 1.05 as an exact wad (float 1.05 is 1.0500000000000000444...)."""
    return int(Decimal(repr(threshold)) * WAD)


def band_of(health_factor: int, settings: LendingSettings) -> Band:
    """The band of a wad health factor; no debt (uint256 max) is safe."""
    if health_factor < wad(settings.critical_below):
        return "critical"
    if health_factor < wad(settings.urgent_below):
        return "urgent"
    if health_factor < wad(settings.warn_below):
        return "warn"
    return "safe"


def health_float(health_factor: int, total_debt_base: int) -> float | None:
    """The health factor as a float for reading and sorting; None when there is no debt."""
    if total_debt_base == 0 or health_factor >= MAX_UINT256:
        return None
    return health_factor / WAD


class AccountData(BaseModel):
    """getUserAccountData's six words: base currency (USD, 8 decimals), bps, and a wad health factor."""

    total_collateral_base: int
    total_debt_base: int
    available_borrows_base: int
    current_liquidation_threshold: int
    ltv: int
    health_factor: int

    @classmethod
    def decode(cls, data: str) -> AccountData:
        body = data[2:] if data.startswith("0x") else data
        if len(body) < 6 * 64:
            raise ValueError(f"getUserAccountData returned {len(body) // 2} bytes, expected 192")
        words = [int(body[i * 64 : (i + 1) * 64], 16) for i in range(6)]
        return cls(
            total_collateral_base=words[0],
            total_debt_base=words[1],
            available_borrows_base=words[2],
            current_liquidation_threshold=words[3],
            ltv=words[4],
            health_factor=words[5],
        )


# ---- the alert latch ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latch:
    """What decides whether a band transition alerts, for one wallet in one pool.

    `latched` holds the bands already alerted (or suppressed) since the wallet was last safe: a band
    re-arms only after a recovery to safe, so a health factor hovering at a threshold alerts once.
    """

    band: Band = "safe"
    latched: frozenset[str] = frozenset()
    seq: int = 0  # downward crossings into an armed band, ever; numbers each crossing's alert


@dataclass(frozen=True)
class RateLimit:
    """The wallet's last alert, across its pools: at most one per interval unless the band is worse."""

    last_alert_at: int | None = None
    last_severity: int = 0


@dataclass(frozen=True)
class Crossing:
    band: Band
    previous: Band
    seq: int
    at: int
    suppressed: bool  # rate-limited: recorded and latched, never sent


@dataclass
class Step:
    latch: Latch
    limit: RateLimit
    crossing: Crossing | None = None


def step(latch: Latch, limit: RateLimit, band: Band, at: int, settings: LendingSettings) -> Step:
    """One evaluation's effect on the latch. A downward crossing into an armed band is a Crossing."""
    if band == "safe":
        return Step(Latch(band="safe", latched=frozenset(), seq=latch.seq), limit)
    severity = SEVERITY[band]
    if severity <= SEVERITY[latch.band] or band in latch.latched:
        return Step(replace(latch, band=band), limit)
    seq = latch.seq + 1
    # jumping straight to a worse band latches every band on the way: recovering by one step and
    # falling back must not alert for a band the wallet has already been warned beyond
    latched = latch.latched | {b for b in BANDS[1 : severity + 1]}
    recent = limit.last_alert_at is not None and at - limit.last_alert_at < settings.alert_min_interval_s
    suppressed = recent and severity <= limit.last_severity
    crossing = Crossing(band=band, previous=latch.band, seq=seq, at=at, suppressed=suppressed)
    new_limit = limit if suppressed else RateLimit(last_alert_at=at, last_severity=severity)
    return Step(Latch(band=band, latched=frozenset(latched), seq=seq), new_limit, crossing)
