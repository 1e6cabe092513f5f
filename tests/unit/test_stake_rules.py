"""Stakes in the pure fold, the staker label and the rule conditions over stakes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.events import StakeAction, StakeEvent, Standard, TokenTransfer
from shared.labels import labels_for
from shared.profiles.model import fold, stake_key
from shared.segments.evaluate import matches, time_sensitivity
from shared.segments.facts import WalletFacts
from shared.segments.rules import parse_rule
from shared.settings import LabelSettings, ScoreSettings, Settings

ZERO = "0x" + "00" * 20
A = "0x" + "0a" * 20
TOKEN = "0x" + "11" * 20
VAULT = "0x" + "22" * 20
POOL = "0x" + "33" * 20
DAY = 86_400


def _stake(
    block: int, day: int, contract: str, action: StakeAction, assets: int, shares: int | None = None
) -> StakeEvent:
    return StakeEvent(
        chain_id=1,
        block_number=block,
        block_hash=f"0x{block:064x}",
        block_time=day * DAY,
        tx_hash=f"0x{block:064x}",
        log_index=0,
        contract=contract,
        standard=Standard.ERC4626_VAULT if shares is not None else Standard.STAKING,
        action=action,
        owner=A,
        assets=assets,
        shares=shares,
        underlying=TOKEN,
    )


def _mint(block: int, day: int, amount: int) -> TokenTransfer:
    return TokenTransfer(
        chain_id=1,
        block_number=block,
        block_hash=f"0x{block:064x}",
        block_time=day * DAY,
        tx_hash=f"0x{block:064x}",
        log_index=1,
        contract=TOKEN,
        standard=Standard.ERC20,
        from_address=ZERO,
        to_address=A,
        amount=amount,
        decimals=18,
    )


def _facts(events: list[StakeEvent | TokenTransfer], now_day: int, settings: Settings | None = None) -> WalletFacts:
    result = fold(events, ScoreSettings())
    holdings = [h for (w, _, _), h in result.holdings.items() if w == A]
    return WalletFacts.of(result.profiles[A], holdings, now_day * DAY, settings=settings)


def test_a_stake_run_begins_at_its_first_deposit_and_ends_at_the_full_exit() -> None:
    # Given A deposits twice into the vault, exits fully, and stakes again in the pool
    history = [
        _stake(1, 0, VAULT, "deposit", 100, 100),
        _stake(2, 5, VAULT, "deposit", 50, 50),
        _stake(3, 9, VAULT, "withdraw", 30, 30),
        _stake(4, 20, VAULT, "withdraw", 120, 120),
        _stake(5, 30, POOL, "stake", 7),
    ]
    profile = fold(history, ScoreSettings()).profiles[A]
    vault, pool = profile.staking[stake_key(1, VAULT)], profile.staking[stake_key(1, POOL)]
    # Then the vault position is out since day 20, the pool's stake runs from day 30
    assert (vault.shares, vault.staked_assets, vault.staked_since, vault.unstaked_at) == (0, 0, None, 20 * DAY)
    assert (pool.staked_assets, pool.staked_since, pool.unstaked_at) == (7, 30 * DAY, None)
    assert (profile.staked_since, profile.unstaked_at) == (30 * DAY, None)
    # And once the pool is left too, the wallet is unstaked from then
    profile = fold([*history, _stake(6, 40, POOL, "unstake", 7)], ScoreSettings()).profiles[A]
    assert (profile.staked_since, profile.unstaked_at) == (None, 40 * DAY)


def test_staker_label_needs_a_stake_at_least_the_minimum() -> None:
    profile = fold([_stake(1, 0, POOL, "stake", 500)], ScoreSettings()).profiles[A]
    assert "staker" in labels_for(profile, [], DAY, LabelSettings())
    assert "staker" not in labels_for(profile, [], DAY, LabelSettings(staker_min_balance=501))
    exited = fold([_stake(1, 0, POOL, "stake", 500), _stake(2, 1, POOL, "unstake", 500)], ScoreSettings())
    assert "staker" not in labels_for(exited.profiles[A], [], DAY, LabelSettings())


def test_stake_condition_filters_by_balance_and_staked_days_and_knows_when_it_turns_true() -> None:
    facts = _facts([_stake(1, 10, VAULT, "deposit", 100, 90)], now_day=12)
    rule = parse_rule({"match": {"type": "stake", "contract": VAULT, "min_balance": "100", "staked_days_gte": 3}})
    assert not matches(rule, facts)
    assert time_sensitivity(rule, facts) == 13 * DAY
    assert matches(rule, facts.at(13 * DAY))
    assert not matches(parse_rule({"match": {"type": "stake", "min_balance": "101"}}), facts)
    assert not matches(parse_rule({"match": {"type": "stake", "underlying": POOL}}), facts)


def test_staked_since_and_unstaked_ages_are_days_since_conditions() -> None:
    history = [_stake(1, 0, POOL, "stake", 5), _stake(2, 10, POOL, "unstake", 5)]
    facts = _facts(history, now_day=25)
    unstaked_long_ago = parse_rule({"match": {"type": "days_since", "field": "unstaked_at", "op": "gte", "days": 14}})
    staked_long = parse_rule({"match": {"type": "days_since", "field": "staked_since", "op": "gte", "days": 1}})
    assert matches(unstaked_long_ago, facts) and not matches(staked_long, facts)
    assert not matches(unstaked_long_ago, _facts(history, now_day=23))


def test_a_wallet_with_only_staked_tokens_holds_the_underlying_when_asked() -> None:
    facts = _facts([_stake(1, 0, VAULT, "deposit", 10**18, 10**18)], now_day=40)
    plain = {"type": "holding", "contract": TOKEN}
    assert not matches(parse_rule({"match": plain}), facts)
    assert matches(parse_rule({"match": {**plain, "include_staked": True, "held_days_gte": 30}}), facts)
    # held and staked add up
    both = _facts([_mint(1, 0, 10**18), _stake(2, 1, POOL, "stake", 10**18)], now_day=2)
    two = {**plain, "min_adjusted": 1.5}
    assert not matches(parse_rule({"match": two}), both)
    assert matches(parse_rule({"match": {**two, "include_staked": True}}), both)


@pytest.mark.parametrize(
    "node",
    [
        {"type": "stake", "min_balance": "5", "max_balance": "4"},
        {"type": "stake", "contract": "0x1234"},
        {"type": "stake", "staked_days_gte": -1},
        {"type": "holding", "standard": "erc721", "include_staked": True},
        {"type": "days_since", "field": "staked_for", "op": "gte", "days": 1},
    ],
)
def test_invalid_stake_conditions_are_refused(node: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        parse_rule({"match": node})
