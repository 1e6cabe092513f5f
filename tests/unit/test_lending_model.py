"""Positions folded from pool events, health-factor bands, and the alert latch (pure)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.chain import abi
from shared.chain.codec import event_from_item, event_to_item
from shared.chain.decode import decode_logs
from shared.events import ZERO_ADDRESS, LendingEvent, PriceUpdate, Standard
from shared.lending.model import (
    MAX_UINT256,
    WAD,
    AccountData,
    Latch,
    PoolPosition,
    RateLimit,
    apply_lending,
    band_of,
    health_float,
    step,
    wad,
)
from shared.settings import LendingSettings

POOL = "0x" + "70" * 20
WETH = "0x" + "e7" * 20
USDC = "0x" + "0c" * 20
ALICE = "0x" + "a1" * 20
T0 = 1_700_000_000
SETTINGS = LendingSettings(alert_min_interval_s=3600)


def _event(n: int, action: str, reserve: str, amount: int = 0, **extra: object) -> LendingEvent:
    return LendingEvent(
        chain_id=1,
        block_number=n,
        block_hash=f"0x{n:064x}",
        block_time=T0 + n * 12,
        tx_hash=f"0x{n:064x}",
        log_index=0,
        contract=POOL,
        standard=Standard.LENDING_POOL,
        action=action,  # type: ignore[arg-type]
        reserve=reserve,
        user=ALICE,
        amount=amount,
        **extra,  # type: ignore[arg-type]
    )


# ---- bands ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hf", "band"),
    [
        (MAX_UINT256, "safe"),
        (wad(1.5), "safe"),
        (wad(1.5) - 1, "warn"),
        (wad(1.2), "warn"),
        (wad(1.2) - 1, "urgent"),
        (wad(1.05), "urgent"),
        (wad(1.05) - 1, "critical"),
        (0, "critical"),
    ],
)
def test_bands_follow_the_thresholds_to_the_last_wei(hf: int, band: str) -> None:
    assert band_of(hf, LendingSettings()) == band


def test_thresholds_are_settings_and_must_be_ordered() -> None:
    custom = LendingSettings(warn_below=2.0, urgent_below=1.5, critical_below=1.1)
    assert band_of(wad(1.8), custom) == "warn" and band_of(wad(1.8), LendingSettings()) == "safe"
    with pytest.raises(ValueError, match="warn_below > urgent_below > critical_below"):
        LendingSettings(warn_below=1.1, urgent_below=1.2)


def test_account_data_decodes_the_six_words_and_no_debt_has_no_float() -> None:
    words = [3_000 * 10**8, 0, 2_400 * 10**8, 8250, 8000, MAX_UINT256]
    data = AccountData.decode("0x" + "".join(f"{w:064x}" for w in words))
    assert data.health_factor == MAX_UINT256 and health_float(data.health_factor, data.total_debt_base) is None
    assert health_float(WAD * 3 // 2, 1) == 1.5


# ---- the latch ----------------------------------------------------------------------------------------


def _walk(bands: list[str], gap: int = 60, latch: Latch | None = None) -> list[tuple[str, int, bool]]:
    latch, limit = latch or Latch(), RateLimit()
    crossings = []
    for i, band in enumerate(bands):
        moved = step(latch, limit, band, T0 + i * gap, SETTINGS)  # type: ignore[arg-type]
        latch, limit = moved.latch, moved.limit
        if moved.crossing:
            crossings.append((moved.crossing.band, moved.crossing.seq, moved.crossing.suppressed))
    return crossings


def test_each_downward_crossing_alerts_once_and_a_latched_band_waits_for_safe() -> None:
    # Given a wallet sliding, bouncing inside the bands, then recovering and sliding again (hours apart)
    bands = ["safe", "warn", "urgent", "warn", "urgent", "critical", "urgent", "critical", "safe", "warn"]

    # When its evaluations go through the latch
    crossings = _walk(bands, gap=4 * 3600)

    # Then warn, urgent and critical alert once each, and warn again only after safe
    assert crossings == [("warn", 1, False), ("urgent", 2, False), ("critical", 3, False), ("warn", 4, False)]


def test_a_jump_latches_every_band_on_the_way() -> None:
    assert _walk(["critical", "warn", "urgent", "critical"], gap=4 * 3600) == [("critical", 1, False)]


def test_the_rate_limit_suppresses_repeats_but_never_an_escalation() -> None:
    # Given a wallet flapping around 1.5 within minutes, then falling to critical
    crossings = _walk(["warn", "safe", "warn", "safe", "warn", "critical"], gap=60)

    # Then the first warn alerts, the repeats are recorded as rate-limited, and critical still alerts
    assert crossings == [("warn", 1, False), ("warn", 2, True), ("warn", 3, True), ("critical", 4, False)]


@given(st.lists(st.sampled_from(["safe", "warn", "urgent", "critical"]), max_size=40))
def test_alerts_are_downward_crossings_never_repeated_before_a_recovery(bands: list[str]) -> None:
    # Given any walk through the bands, hours apart (no rate limit)
    order = ["safe", "warn", "urgent", "critical"]
    latch, limit = Latch(), RateLimit()
    previous = "safe"
    alerted: set[str] = set()
    for i, band in enumerate(bands):
        # When each evaluation goes through the latch
        moved = step(latch, limit, band, T0 + i * 4 * 3600, SETTINGS)  # type: ignore[arg-type]
        latch, limit = moved.latch, moved.limit
        # Then an alert is always a move to a worse band, never one alerted since the last safe,
        # and the first fall after a safe evaluation always alerts
        if moved.crossing is not None:
            assert order.index(band) > order.index(previous) and band not in alerted
            alerted.add(band)
        elif band != "safe" and previous == "safe":
            pytest.fail(f"falling from safe into {band} did not alert")
        if band == "safe":
            alerted.clear()
        previous = band


# ---- positions -----------------------------------------------------------------------------------------


def _history() -> list[LendingEvent]:
    return [
        _event(1, "supply", WETH, 10 * WAD),
        _event(2, "collateral_enabled", WETH),
        _event(3, "borrow", USDC, 5_000 * 10**6),
        _event(4, "repay", USDC, 1_000 * 10**6),
        _event(
            5,
            "liquidation",
            USDC,
            2_000 * 10**6,
            collateral_asset=WETH,
            liquidated_collateral=WAD,
            liquidator=ZERO_ADDRESS,
        ),
        _event(6, "withdraw", WETH, 2 * WAD),
    ]


def test_a_position_folds_sums_repayments_and_liquidations() -> None:
    position = PoolPosition(chain_id=1, pool=POOL, address=ALICE)
    for event in _history():
        apply_lending(position, event, +1)
    assert position.reserves[WETH].supplied == 7 * WAD and position.reserves[USDC].borrowed == 2_000 * 10**6
    assert position.debt_assets == [USDC] and position.collateral_assets == [WETH]
    assert position.exposure == {USDC, WETH}
    assert len(position.repays) == 1 and position.liquidated_at == T0 + 5 * 12


@given(st.randoms(use_true_random=False))
def test_events_and_rollbacks_commute_across_events(rng: random.Random) -> None:
    # Given the history, plus orphaned events (a reorg applied then rolled back) and re-mined ones
    history = _history()
    reference = PoolPosition(chain_id=1, pool=POOL, address=ALICE)
    for event in history:
        apply_lending(reference, event, +1)
    orphans = [
        _event(100 + i, rng.choice(["borrow", "repay", "supply"]), USDC, rng.randint(1, 10**9)) for i in range(3)
    ]
    orphans.append(_event(110, "liquidation", USDC, 5, collateral_asset=WETH, liquidated_collateral=7))
    # exactly-once keeps each event's own order (+1, then -1, +1 ...); events interleave freely
    streams = [[(e, +1)] + ([(e, -1), (e, +1)] if rng.random() < 0.3 else []) for e in history]
    streams += [[(e, +1), (e, -1)] for e in orphans]
    operations = []
    while any(streams):
        stream = rng.choice([s for s in streams if s])
        operations.append(stream.pop(0))

    # When applied in that interleaving
    shuffled = PoolPosition(chain_id=1, pool=POOL, address=ALICE)
    for event, sign in operations:
        apply_lending(shuffled, event, sign)

    # Then the result is the same position
    assert shuffled == reference


def test_a_wallet_that_owes_nothing_is_exposed_to_no_price() -> None:
    position = PoolPosition(chain_id=1, pool=POOL, address=ALICE)
    apply_lending(position, _event(1, "supply", WETH, WAD), +1)
    apply_lending(position, _event(2, "collateral_enabled", WETH), +1)
    assert position.exposure == set()


# ---- the oracle event ------------------------------------------------------------------------------------


def test_asset_price_updated_decodes_and_round_trips_through_the_codec() -> None:
    # Given an AssetPriceUpdated log (nothing indexed: asset, price, timestamp in the data)
    oracle = "0x" + "0a" * 20
    log = {
        "address": oracle,
        "topics": [abi.ASSET_PRICE_UPDATED],
        "data": "0x" + WETH[2:].rjust(64, "0") + f"{2_500 * 10**8:064x}" + f"{T0:064x}",
        "blockNumber": "0x7",
        "blockHash": "0x" + "11" * 32,
        "transactionHash": "0x" + "22" * 32,
        "logIndex": "0x0",
    }
    short = {**log, "data": log["data"][:-64], "logIndex": "0x1"}

    # When it is decoded and stored
    decoded = decode_logs(1, [log, short], {7: T0})
    (event,) = decoded.events
    stored = event_from_item(event_to_item(event))

    # Then it is a price update of WETH, identical after the round trip, and the short log is malformed
    assert isinstance(event, PriceUpdate) and event.standard == Standard.PRICE_ORACLE
    assert (event.asset, event.price, event.timestamp, event.contract) == (WETH, 2_500 * 10**8, T0, oracle)
    assert stored == event and decoded.malformed == 1
    assert event_to_item(event)["standard"] == {"S": "price-oracle"}
