"""The pure fold: balances, holding time, exits and labels from a known history."""

from __future__ import annotations

from shared.events import Standard, TokenTransfer
from shared.labels import churn_state, labels_for
from shared.profiles.model import fold
from shared.settings import LabelSettings, ScoreSettings

ZERO = "0x" + "00" * 20
A, B = "0x" + "0a" * 20, "0x" + "0b" * 20
TOKEN = "0x" + "11" * 20
DAY = 86_400


def _t(block: int, day: int, frm: str, to: str, amount: int) -> TokenTransfer:
    return TokenTransfer(
        chain_id=1,
        block_number=block,
        block_hash="0x" + f"{block:064x}",
        block_time=day * DAY,
        tx_hash="0x" + f"{block:064x}",
        log_index=0,
        contract=TOKEN,
        standard=Standard.ERC20,
        from_address=frm,
        to_address=to,
        amount=amount,
        decimals=18,
        symbol="K",
    )


def test_a_seller_who_sells_out_is_exited_and_a_holder_has_diamond_hands():
    # Given A and B both receive on day 0, and A sells everything to B on day 10
    history = [_t(1, 0, ZERO, A, 10**18), _t(2, 0, ZERO, B, 5 * 10**18), _t(3, 10, A, B, 10**18)]
    result = fold(history, ScoreSettings())
    holding_a = result.holdings[(A, 1, TOKEN)]
    holding_b = result.holdings[(B, 1, TOKEN)]
    # Then A's balance is zero with an exit time, and B holds 6 tokens since day 0
    assert holding_a.balance == 0 and holding_a.exited_at == 10 * DAY and holding_a.holding_since is None
    assert holding_b.balance == 6 * 10**18 and holding_b.holding_since == 0
    now = 200 * DAY
    settings = LabelSettings()
    assert churn_state(result.profiles[A], [holding_a], now, settings) == "exited"
    assert "diamond_hands" in labels_for(result.profiles[B], [holding_b], now, settings)
    assert churn_state(result.profiles[B], [holding_b], now, settings) == "dormant"
