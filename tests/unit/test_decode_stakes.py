"""Decoding ERC-4626 vault and staking-contract logs by shape, well-formed and malformed."""

from __future__ import annotations

from shared.chain import abi
from shared.chain.codec import event_from_item, event_to_item
from shared.chain.decode import decode_logs
from shared.chain.reader import with_underlying
from shared.events import StakeEvent, Standard
from tests.unit.test_decode import BIG, TIMES, A, B, C, log, topic_of, word

VAULT = "0x" + "7a" * 20
POOL = "0x" + "5b" * 20
ASSET = "0x" + "e1" * 20


def _decode(*entries: dict[str, object]) -> tuple[list[StakeEvent], int, int]:
    result = decode_logs(31337, list(entries), TIMES)
    events = [e for e in result.events if isinstance(e, StakeEvent)]
    assert len(events) == len(result.events)
    return events, result.malformed, result.ignored


def test_vault_deposit_and_withdraw_name_the_owner_and_carry_assets_and_shares() -> None:
    # Given a Deposit where A pays for B's shares, and a Withdraw where A burns C's shares to pay B
    deposit = log([abi.VAULT_DEPOSIT, topic_of(A), topic_of(B)], "0x" + word(BIG) + word(7), address=VAULT)
    withdraw = log(
        [abi.VAULT_WITHDRAW, topic_of(A), topic_of(B), topic_of(C)], "0x" + word(5) + word(4), index=1, address=VAULT
    )

    # When they are decoded
    (dep, wd), malformed, _ = _decode(deposit, withdraw)

    # Then each names the wallet whose shares move, with the assets and shares of the log
    assert malformed == 0
    assert (dep.standard, dep.action, dep.owner, dep.sender, dep.assets, dep.shares) == (
        Standard.ERC4626_VAULT,
        "deposit",
        B,
        A,
        BIG,
        7,
    )
    assert (wd.action, wd.owner, wd.sender, wd.receiver, wd.assets, wd.shares) == ("withdraw", C, A, B, 5, 4)


def test_staked_and_withdrawn_read_the_indexed_user_and_the_unindexed_form() -> None:
    # Given Staked with `user` indexed (StakingRewards' shape), and Withdrawn with `user` in the data
    staked = log([abi.STAKED, topic_of(A)], "0x" + word(10**18), address=POOL)
    withdrawn = log([abi.WITHDRAWN], "0x" + word(A) + word(4), index=1, address=POOL)

    (stake, unstake), malformed, _ = _decode(staked, withdrawn)

    assert malformed == 0
    assert (stake.standard, stake.action, stake.owner, stake.assets, stake.shares) == (
        Standard.STAKING,
        "stake",
        A,
        10**18,
        None,
    )
    assert (unstake.action, unstake.owner, unstake.assets) == ("unstake", A, 4)


MALFORMED_STAKES = [
    log([abi.VAULT_DEPOSIT, topic_of(A)], "0x" + word(1) + word(1)),  # owner missing
    log([abi.VAULT_DEPOSIT, topic_of(A), topic_of(B)], "0x" + word(1)),  # one data word
    log([abi.VAULT_DEPOSIT, topic_of(A), topic_of(B)], "0x" + word(1) + word(1) + word(1)),  # a third word
    log([abi.VAULT_DEPOSIT, topic_of(A), "0x" + "ff" * 32], "0x" + word(1) + word(1)),  # dirty owner
    log([abi.VAULT_WITHDRAW, topic_of(A), topic_of(B)], "0x" + word(1) + word(1)),  # owner missing
    log([abi.VAULT_WITHDRAW, topic_of(A), topic_of(B), topic_of(C)], "0x" + word(1)[:30]),  # cut-off data
    log([abi.STAKED, topic_of(A), topic_of(B)], "0x" + word(1)),  # three topics
    log([abi.STAKED, topic_of(A)], "0x"),  # no amount
    log([abi.STAKED], "0x" + word(1)),  # unindexed form without the user word
    log([abi.WITHDRAWN], "0x" + "ff" * 32 + word(1)),  # unindexed user word with dirty high bytes
    log([abi.WITHDRAWN, topic_of(A)], "0x" + word(1) + word(2)),  # indexed form with two words
]


def test_stake_logs_in_the_wrong_shape_are_malformed_and_skipped() -> None:
    good = log([abi.STAKED, topic_of(B)], "0x" + word(9), index=99, address=POOL)
    events, malformed, ignored = _decode(*MALFORMED_STAKES, good)
    assert (malformed, ignored) == (len(MALFORMED_STAKES), 0)
    assert [(e.owner, e.assets) for e in events] == [(B, 9)]


def test_aave_withdraw_and_vault_withdraw_have_different_topics() -> None:
    # Aave's Withdraw has four fields, ERC-4626's five: a pool's Withdraw never reads as a vault's
    assert abi.WITHDRAW != abi.VAULT_WITHDRAW
    aave = log([abi.WITHDRAW, topic_of(C), topic_of(A), topic_of(B)], "0x" + word(5))
    result = decode_logs(31337, [aave], TIMES)
    assert result.malformed == 0 and result.events[0].kind == "lending"


def test_stake_events_are_stamped_with_their_underlying_and_survive_the_codec() -> None:
    deposit = log([abi.VAULT_DEPOSIT, topic_of(A), topic_of(B)], "0x" + word(BIG) + word(BIG - 1), address=VAULT)
    staked = log([abi.STAKED, topic_of(A)], "0x" + word(3), index=1, address=POOL)
    events = with_underlying(decode_logs(31337, [deposit, staked], TIMES).events, {VAULT: ASSET})
    assert [getattr(e, "underlying", None) for e in events] == [ASSET, None]
    for event in events:
        assert event_from_item(event_to_item(event)) == event
