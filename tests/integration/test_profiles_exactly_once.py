"""Profiles applied through moto equal the pure reference fold, whatever the delivery order,
duplicates and rollbacks (issue 4's property test)."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from shared import scoring
from shared.events import ChainEvent, Standard, TokenTransfer, VoteCast
from shared.profiles.model import fold
from shared.profiles.store import (
    apply_change,
    apply_changes,
    holder_count,
    iter_activities,
    load_profile,
    token_supply,
)
from shared.settings import get_settings
from tests.support.dynamo import wipe_table

WALLETS = [f"0x{i:040x}" for i in range(1, 5)]
TOKEN = "0x" + "aa" * 20
NFT = "0x" + "bb" * 20
GOV = "0x" + "cc" * 20
ZERO = "0x" + "00" * 20
T0 = 1_700_000_000


def _transfer(block: int, log: int, frm: str, to: str, amount: int, nft: bool = False) -> TokenTransfer:
    return TokenTransfer(
        chain_id=31337,
        block_number=block,
        block_hash=f"0x{block:064x}",
        block_time=T0 + block * 3600,
        tx_hash=f"0x{block * 1000 + log:064x}",
        log_index=log,
        contract=NFT if nft else TOKEN,
        standard=Standard.ERC721 if nft else Standard.ERC20,
        from_address=frm,
        to_address=to,
        amount=1 if nft else amount,
        token_id=block * 100 + log if nft else None,
        decimals=None if nft else 18,
        symbol="KITH",
    )


@st.composite
def histories(draw: st.DrawFn) -> list[ChainEvent]:
    """A valid history: mints first, then transfers of what each wallet holds, and a few votes."""
    balances = dict.fromkeys(WALLETS, 0)
    events: list[ChainEvent] = []
    n = draw(st.integers(min_value=2, max_value=10))
    for block in range(1, n + 1):
        wallet = draw(st.sampled_from(WALLETS))
        kind = draw(st.sampled_from(["mint", "transfer", "vote", "nft"]))
        if kind == "mint" or (balances[wallet] == 0 and kind == "transfer"):
            amount = draw(st.integers(min_value=1, max_value=2**200))
            events.append(_transfer(block, 0, ZERO, wallet, amount))
            balances[wallet] += amount
        elif kind == "transfer":
            to = draw(st.sampled_from(WALLETS))
            amount = draw(st.integers(min_value=1, max_value=balances[wallet]))
            events.append(_transfer(block, 0, wallet, to, amount))
            balances[wallet] -= amount
            balances[to] += amount
        elif kind == "nft":
            events.append(_transfer(block, 0, ZERO, wallet, 1, nft=True))
        else:
            events.append(
                VoteCast(
                    chain_id=31337,
                    block_number=block,
                    block_hash=f"0x{block:064x}",
                    block_time=T0 + block * 3600,
                    tx_hash=f"0x{block:064x}",
                    log_index=0,
                    contract=GOV,
                    standard=Standard.GOVERNOR,
                    voter=wallet,
                    proposal_id=1,
                    support=1,
                    weight=10,
                )
            )
    return events


def _assert_matches_reference(final_events: list[ChainEvent]) -> None:
    cfg = get_settings()
    expected = fold(final_events, cfg.score)
    for contract in (TOKEN, NFT):
        holders = sum(1 for (_, _, c), h in expected.holdings.items() if c == contract and h.balance > 0)
        assert holder_count(31337, contract) == holders, f"holder count of {contract}"
    minted = sum(e.amount for e in final_events if isinstance(e, TokenTransfer) and e.contract == TOKEN)
    minted -= sum(
        e.amount
        for e in final_events
        if isinstance(e, TokenTransfer) and e.contract == TOKEN and e.from_address != ZERO
    )
    assert token_supply(31337, TOKEN) == pytest.approx(minted, rel=1e-12, abs=1e-9), "supply"
    now = T0 + 10**6
    for wallet in WALLETS:
        stored = load_profile(wallet)
        reference = expected.profiles.get(wallet)
        if reference is None:
            assert stored is None, f"{wallet} should have no profile"
            continue
        assert stored is not None, f"{wallet} lost its profile"
        profile, holdings = stored
        for field in ("active_days", "chains", "transfers_in", "transfers_out", "votes", "first_seen", "last_active"):
            assert getattr(profile, field) == getattr(reference, field), field
        assert scoring.score_at(profile.score, now, cfg.score) == pytest.approx(
            scoring.score_at(reference.score, now, cfg.score), rel=1e-9, abs=1e-9
        )
        by_contract = {h.contract: h for h in holdings}
        for (owner, _chain, contract), ref_holding in expected.holdings.items():
            if owner != wallet:
                continue
            got = by_contract.pop(contract)
            assert got.model_dump() == ref_holding.model_dump()
        assert not by_contract, f"holdings left behind: {list(by_contract)}"
        assert len(list(iter_activities(cfg.app_table, wallet))) == sum(
            1
            for e in final_events
            for who in (getattr(e, "from_address", None), getattr(e, "to_address", None), getattr(e, "voter", None))
            if who == wallet
        )


@pytest.mark.integration
@settings(
    max_examples=40,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(history=histories(), seed=st.integers(min_value=0, max_value=2**32))
def test_redelivery_disorder_and_rollback_match_the_reference_fold(deployed, history, seed):
    # Given empty tables, a history, a shuffled delivery with duplicates, and a tail a reorg rolls back
    wipe_table(deployed.app_table)
    rng = random.Random(seed)
    deliveries = history + rng.sample(history, k=len(history) // 2)
    rng.shuffle(deliveries)
    rolled_back = history[-rng.randint(0, min(3, len(history))) :] if rng.random() < 0.7 else []

    # When every delivery is applied in stream batches of random size (the fast path, falling back
    # per event for duplicates and disorder), then the rollbacks (REMOVE records), twice
    position = 0
    while position < len(deliveries):
        size = rng.randint(1, 8)
        apply_changes([(None, e) for e in deliveries[position : position + size]])
        position += size
    apply_changes([(e, None) for e in rolled_back + rolled_back])

    # Then the stored profiles equal the reference fold over the events that remain
    remaining = [e for e in history if e not in rolled_back]
    _assert_matches_reference(remaining)

    # And a fresh copy of the rolled-back events (re-included after the reorg) applies exactly once
    for event in rolled_back:
        apply_change(None, event)
        apply_change(event, event)  # moto's MODIFY for an identical re-put changes nothing
    _assert_matches_reference(history)
