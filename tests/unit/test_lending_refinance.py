"""Refinancing hints: the best variable rate per asset across pools and chains, and the margin."""

from __future__ import annotations

from shared.lending.model import RAY, PoolPosition, ReservePosition
from shared.lending.refinance import RateQuote, asset_name, best_rates, hints_for
from shared.settings import LendingSettings

POOL_A, POOL_B, POOL_C = ("0x" + c * 40 for c in "abc")
USDC_1, USDC_10, DAI_1 = ("0x" + c * 40 for c in "123")


def _quote(chain_id: int, pool: str, asset: str, name: str, apr: float) -> RateQuote:
    return RateQuote(
        chain_id=chain_id,
        pool=pool,
        asset=asset,
        name=name,
        variable_borrow_rate=int(apr * RAY),
        liquidity_rate=0,
        block=1,
    )


def _borrower(chain_id: int, pool: str, asset: str) -> PoolPosition:
    return PoolPosition(
        chain_id=chain_id, pool=pool, address="0x" + "f" * 40, reserves={asset: ReservePosition(borrowed=5)}
    )


QUOTES = {
    (1, POOL_A, USDC_1): _quote(1, POOL_A, USDC_1, "USDC", 0.09),
    (1, POOL_B, USDC_1): _quote(1, POOL_B, USDC_1, "USDC", 0.075),
    (10, POOL_C, USDC_10): _quote(10, POOL_C, USDC_10, "USDC", 0.05),
    (1, POOL_A, DAI_1): _quote(1, POOL_A, DAI_1, "DAI", 0.03),
}


def test_the_best_rate_is_found_across_pools_and_chains_by_asset_name() -> None:
    best = best_rates(QUOTES.values())
    assert (best["USDC"].chain_id, best["USDC"].pool) == (10, POOL_C) and best["DAI"].pool == POOL_A


def test_borrowers_above_best_plus_margin_get_a_hint_naming_where() -> None:
    # Given USDC borrowers in pools at 9%, 7.5% and 5%, a DAI borrower at the best DAI rate, a 3-point margin
    borrowers = [_borrower(1, POOL_A, USDC_1), _borrower(1, POOL_B, USDC_1), _borrower(10, POOL_C, USDC_10)]
    borrowers.append(_borrower(1, POOL_A, DAI_1))

    # When hints are computed
    hints = hints_for(borrowers, QUOTES, LendingSettings(refinance_margin=0.03))

    # Then only the 9% borrower (4 points above 5%) is flagged, pointed at chain 10's pool
    (hint,) = hints
    assert (hint.chain_id, hint.pool, hint.name) == (1, POOL_A, "USDC")
    assert round(hint.your_rate, 6) == 0.09 and round(hint.best_rate, 6) == 0.05
    assert (hint.best_chain_id, hint.best_pool, hint.best_asset) == (10, POOL_C, USDC_10)
    # and a smaller margin flags the 7.5% borrower too
    assert len(hints_for(borrowers, QUOTES, LendingSettings(refinance_margin=0.02))) == 2


def test_assets_match_by_alias_then_symbol_then_address() -> None:
    lending = LendingSettings(asset_aliases={f"10:{USDC_10}": "usdc"})
    assert asset_name(10, USDC_10, "USDC.e", lending) == "USDC"
    assert asset_name(1, USDC_1, "usdc", lending) == "USDC"
    assert asset_name(1, USDC_1, None, lending) == f"1:{USDC_1}"
