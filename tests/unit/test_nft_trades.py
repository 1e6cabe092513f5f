"""A wallet's NFT trades as the pure fold builds them: realised profit, holding times, the flipper label
and the segment rule facts over them, checked against references computed here."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.events import ZERO_ADDRESS, NftSale, Standard, TokenTransfer
from shared.labels import labels_for
from shared.profiles.model import DAY, fold
from shared.profiles.trades import flips, holding_times, native_profit, realised_profit
from shared.segments.evaluate import changed_fields, matches
from shared.segments.facts import WalletFacts
from shared.segments.rules import parse_rule
from shared.settings import LabelSettings, ScoreSettings, Settings

NFT = "0x" + "4f" * 20
WETH = "0x" + "ee" * 20
MARKET = "0x" + "5e" * 20
CREATOR, ALICE, BOB = ("0x" + c * 20 for c in ("c7", "a1", "b2"))
T0 = 1_700_000_000
ETH = 10**18


def mint(block: int, to: str, token_id: int, at: int) -> TokenTransfer:
    return TokenTransfer(
        chain_id=1,
        block_number=block,
        block_hash=f"0x{block:064x}",
        block_time=at,
        tx_hash=f"0x{block:064x}",
        log_index=0,
        contract=NFT,
        standard=Standard.ERC721,
        from_address=ZERO_ADDRESS,
        to_address=to,
        token_id=token_id,
        amount=1,
    )


def sale(
    block: int, seller: str, buyer: str, token_id: int, price: int, at: int, currency: str = ZERO_ADDRESS
) -> NftSale:
    return NftSale(
        chain_id=1,
        block_number=block,
        block_hash=f"0x{block:064x}",
        block_time=at,
        tx_hash=f"0x{block:064x}",
        log_index=1,
        contract=MARKET,
        standard=Standard.SEAPORT,
        order_hash="0x" + "11" * 32,
        side="listing",
        seller=seller,
        buyer=buyer,
        collection=NFT,
        nft_standard=Standard.ERC721,
        token_id=token_id,
        units=1,
        currency=currency,
        price=price,
        seller_proceeds=price * 95 // 100,
        royalty=price - price * 95 // 100,
    )


HISTORY = [
    mint(1, CREATOR, 1, T0),
    mint(2, CREATOR, 2, T0),
    mint(3, CREATOR, 3, T0),
    sale(4, CREATOR, ALICE, 1, 1 * ETH, T0 + 1 * DAY),
    sale(5, CREATOR, ALICE, 2, 2 * ETH, T0 + 1 * DAY),
    sale(6, CREATOR, ALICE, 3, 50 * ETH, T0 + 1 * DAY, currency=WETH),
    sale(7, ALICE, BOB, 1, 3 * ETH, T0 + 3 * DAY),  # a flip: two days after buying
    sale(8, ALICE, BOB, 2, 1 * ETH, T0 + 31 * DAY),  # a loss, after thirty days
    sale(9, ALICE, BOB, 3, 4 * ETH, T0 + 32 * DAY),  # bought in WETH, sold in ETH: no profit in either
]


def test_realised_profit_is_proceeds_less_cost_per_currency_and_skips_what_has_no_known_cost() -> None:
    folded = fold(HISTORY, ScoreSettings()).profiles
    alice, creator = folded[ALICE], folded[CREATOR]
    proceeds = {s.token_id: s.seller_proceeds for s in HISTORY if isinstance(s, NftSale) and s.seller == ALICE}
    expected = proceeds[1] - 1 * ETH + proceeds[2] - 2 * ETH
    assert realised_profit(alice) == {ZERO_ADDRESS: expected}
    assert native_profit(alice) == pytest.approx(expected / ETH)
    assert (alice.nft_bought, alice.nft_sold) == (3, 3)
    assert realised_profit(creator) == {}  # minted: no known cost
    assert realised_profit(folded[BOB]) == {}  # bought, not sold


def test_holding_times_run_from_the_latest_acquisition_before_each_sale() -> None:
    folded = fold(HISTORY, ScoreSettings()).profiles
    alice = folded[ALICE]
    held = sorted(t for trade in alice.nft_trades.values() for t in holding_times(trade))
    assert held == [2 * DAY, 30 * DAY, 31 * DAY]
    assert sorted(t for trade in folded[CREATOR].nft_trades.values() for t in holding_times(trade)) == [DAY] * 3
    assert flips(alice, 7) == 1 and flips(alice, 2) == 0  # held exactly two days is not within two days
    assert flips(folded[CREATOR], 2) == 3


def test_the_flipper_label_follows_the_setting_and_a_rollback() -> None:
    folded = fold(HISTORY, ScoreSettings()).profiles
    now = T0 + 40 * DAY
    assert "flipper" in labels_for(folded[ALICE], [], now, LabelSettings(flipper_days=7))
    assert "flipper" not in labels_for(folded[ALICE], [], now, LabelSettings(flipper_days=1))
    assert "flipper" not in labels_for(folded[BOB], [], now, LabelSettings())
    without_flip = fold([e for e in HISTORY if e.block_number != 7], ScoreSettings()).profiles
    assert "flipper" not in labels_for(without_flip[ALICE], [], now, LabelSettings())


def test_rules_read_the_market_facts() -> None:
    folded = fold(HISTORY, ScoreSettings()).profiles
    now = T0 + 40 * DAY
    facts = {w: WalletFacts.of(p, [], now, settings=Settings()) for w, p in folded.items()}
    flippers = parse_rule({"match": {"type": "label", "label": "flipper"}})
    profitable = parse_rule({"match": {"type": "field", "field": "realised_profit", "op": "gt", "value": 0}})
    buyers = parse_rule({"match": {"type": "field", "field": "nft_bought", "op": "gte", "value": 3}})
    sellers = parse_rule({"match": {"type": "field", "field": "nft_sold", "op": "gte", "value": 3}})
    assert {w for w, f in facts.items() if matches(flippers, f)} == {ALICE, CREATOR}
    assert native_profit(folded[ALICE]) == pytest.approx(0.8)  # 2.85 - 1 on token 1, 0.95 - 2 on token 2
    assert {w for w, f in facts.items() if matches(profitable, f)} == {ALICE}
    assert {w for w, f in facts.items() if matches(buyers, f)} == {ALICE, BOB}
    assert {w for w, f in facts.items() if matches(sellers, f)} == {ALICE, CREATOR}
    before = WalletFacts.of(fold(HISTORY[:-1], ScoreSettings()).profiles[ALICE], [], now, settings=Settings())
    assert {"nft_sold", "realised_profit", "labels"} - changed_fields(before, facts[ALICE]) == {"labels"}


def test_market_rules_are_validated_like_the_others() -> None:
    with pytest.raises(ValidationError):
        parse_rule({"match": {"type": "field", "field": "realized_profit", "op": "gt", "value": 0}})
    with pytest.raises(ValidationError):
        parse_rule({"match": {"type": "label", "label": "flippers"}})
    with pytest.raises(ValidationError):
        parse_rule({"match": {"type": "field", "field": "nft_sold", "op": "between", "value": 1}})
