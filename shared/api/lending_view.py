"""The lending part of a wallet, as the API shows it (GET /wallets/{address} attaches it).

Three requests: the wallet's partition (profile, holdings, positions, health records, state), the
rates partition, and the wallet's alerts. Loyalty is computed at read time from the same inputs the
derivation uses, so it is current even between evaluations; the stored tier is shown beside it.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

from shared import loyalty
from shared.intel import WalletInputs, load_wallet
from shared.intel.lending_records import loyalty_inputs
from shared.lending import store
from shared.lending.model import SEVERITY, PoolPosition
from shared.lending.refinance import RefinanceHint, hints_for
from shared.settings import Settings

RECENT_ALERTS = 20


class ReserveView(BaseModel):
    asset: str
    supplied: str = Field(description="raw amount (base units) as a decimal string")
    borrowed: str = Field(description="raw amount (base units) as a decimal string")
    collateral: bool


class PositionView(BaseModel):
    chain_id: int
    pool: str
    reserves: list[ReserveView]
    health_factor: float | None = Field(description="None when the position owes nothing")
    health_factor_wad: str | None = Field(description="exact, as the pool's getUserAccountData returned it")
    band: str | None = Field(description="safe, warn, urgent or critical; None before the first evaluation")
    evaluated_block: int | None
    evaluated_block_time: int | None
    total_collateral_base: str | None = Field(description="USD with 8 decimals, Aave's base currency")
    total_debt_base: str | None
    liquidated_at: int | None
    repayments: int


class AlertView(BaseModel):
    chain_id: int
    pool: str
    band: str
    previous_band: str | None
    health_factor: float | None
    block: int
    block_time: int
    status: str = Field(description="pending, enqueued or rate_limited")


class LoyaltyView(BaseModel):
    tier: str
    points: float
    formula_version: int
    components: dict[str, float]
    stored_tier: str | None = Field(description="the tier as of the wallet's last evaluation")


class LendingView(BaseModel):
    address: str
    positions: list[PositionView]
    worst_band: str | None
    min_health_factor: float | None
    liquidated: bool
    liquidated_at: int | None
    refinancing: list[RefinanceHint]
    alerts: list[AlertView]
    loyalty: LoyaltyView


def lending_view(address: str, settings: Settings, now: int | None = None) -> LendingView | None:
    inputs = load_wallet(address.lower(), settings)
    return None if inputs is None else lending_view_of(inputs, settings, now)


def lending_view_of(inputs: WalletInputs, settings: Settings, now: int | None = None) -> LendingView:
    """The view of an already loaded wallet (the wallet view loads it once for everything)."""
    now = now or int(time.time())
    address = inputs.profile.address
    records = inputs.lending
    health = {(h.chain_id, h.pool): h for h in records.health}
    positions = [
        _position_view(p, health.get((p.chain_id, p.pool)))
        for p in sorted(records.positions, key=lambda p: (p.chain_id, p.pool))
    ]
    hints = hints_for(records.positions, store.load_rates(settings), settings.lending) if records.positions else []
    bands = [band for _, band in records.bands]
    result = loyalty.loyalty(loyalty_inputs(inputs.profile, inputs.holdings, records), now, settings.loyalty)
    # a wallet that never borrowed has no alerts: skip the query
    stored_alerts = store.load_alerts(address, settings) if records.positions or records.health else []
    alerts = sorted(stored_alerts, key=lambda a: (a["block_time"], a["sk"]))[-RECENT_ALERTS:]
    return LendingView(
        address=address,
        positions=positions,
        worst_band=max(bands, key=SEVERITY.__getitem__) if bands else None,
        min_health_factor=records.min_health_factor,
        liquidated=inputs.profile.liquidations > 0 or records.liquidated_at is not None,
        liquidated_at=records.liquidated_at,
        refinancing=hints,
        alerts=[
            AlertView(
                chain_id=a["chain_id"],
                pool=a["pool"],
                band=a["band"],
                previous_band=a.get("previous_band"),
                health_factor=a.get("health_factor"),
                block=a["block"],
                block_time=a["block_time"],
                status=a["status"],
            )
            for a in alerts
        ],
        loyalty=LoyaltyView(
            tier=result.tier,
            points=result.points,
            formula_version=result.version,
            components=result.components,
            stored_tier=inputs.state.tier if inputs.state else None,
        ),
    )


def _position_view(position: PoolPosition, record: store.HealthRecord | None) -> PositionView:
    return PositionView(
        chain_id=position.chain_id,
        pool=position.pool,
        reserves=[
            ReserveView(asset=asset, supplied=str(r.supplied), borrowed=str(r.borrowed), collateral=r.is_collateral)
            for asset, r in sorted(position.reserves.items())
        ],
        health_factor=record.health_factor if record else None,
        health_factor_wad=record.health_factor_wad if record else None,
        band=record.band if record else None,
        evaluated_block=record.block if record else None,
        evaluated_block_time=record.block_time if record else None,
        total_collateral_base=record.total_collateral_base if record else None,
        total_debt_base=record.total_debt_base if record else None,
        liquidated_at=position.liquidated_at,
        repayments=len(position.repays),
    )
