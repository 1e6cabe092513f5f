"""Refinancing hints: a borrower paying clearly more than the best variable rate for the same asset.

Rates come from each pool's ReserveDataUpdated (ray, 1e27 = 100% APR). The same asset on another
chain or in another pool has another address, so assets are matched by a name: an alias from the
settings ("<chain>:<address>" -> name), else the token's symbol, else the address itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel

from shared.lending.model import RAY, PoolPosition
from shared.settings import LendingSettings


class RateQuote(BaseModel):
    chain_id: int
    pool: str
    asset: str
    name: str  # the cross-chain match key
    variable_borrow_rate: int  # ray
    liquidity_rate: int  # ray
    block: int

    @property
    def borrow_apr(self) -> float:
        return self.variable_borrow_rate / RAY


class RefinanceHint(BaseModel):
    chain_id: int
    pool: str
    asset: str
    name: str
    your_rate: float  # APR, 0.05 = 5%
    best_rate: float
    best_chain_id: int
    best_pool: str
    best_asset: str


def asset_name(chain_id: int, asset: str, symbol: str | None, settings: LendingSettings) -> str:
    alias = settings.asset_aliases.get(f"{chain_id}:{asset.lower()}")
    if alias:
        return alias.upper()
    if symbol:
        return symbol.upper()
    return f"{chain_id}:{asset.lower()}"


def best_rates(quotes: Iterable[RateQuote]) -> dict[str, RateQuote]:
    """The lowest variable borrow rate per asset name; ties go to the lowest (chain, pool)."""
    best: dict[str, RateQuote] = {}
    for quote in sorted(quotes, key=lambda q: (q.variable_borrow_rate, q.chain_id, q.pool)):
        best.setdefault(quote.name, quote)
    return best


def hints_for(
    positions: Iterable[PoolPosition], quotes: Mapping[tuple[int, str, str], RateQuote], settings: LendingSettings
) -> list[RefinanceHint]:
    """One hint per debt whose pool charges more than the best rate for its asset plus the margin."""
    best = best_rates(quotes.values())
    margin = round(settings.refinance_margin * RAY)
    hints: list[RefinanceHint] = []
    for position in positions:
        for asset in position.debt_assets:
            mine = quotes.get((position.chain_id, position.pool, asset))
            if mine is None:
                continue  # no rate seen for this reserve yet
            cheapest = best[mine.name]
            if mine.variable_borrow_rate - cheapest.variable_borrow_rate > margin:
                hints.append(
                    RefinanceHint(
                        chain_id=position.chain_id,
                        pool=position.pool,
                        asset=asset,
                        name=mine.name,
                        your_rate=mine.borrow_apr,
                        best_rate=cheapest.borrow_apr,
                        best_chain_id=cheapest.chain_id,
                        best_pool=cheapest.pool,
                        best_asset=cheapest.asset,
                    )
                )
    return hints
