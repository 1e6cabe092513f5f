"""Profiles applied through moto equal the pure reference fold, whatever the delivery order,
duplicates, retried batches and rollbacks: fungible balances, ERC-721 and ERC-1155 ids moving
between wallets, and ERC-721 ids sold on a market, with their collection's rollups."""

from __future__ import annotations

import os
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from shared import scoring
from shared.events import ChainEvent, NftSale, StakeEvent, Standard, TokenTransfer, VoteCast
from shared.profiles.collections import collection_days, collection_stats, floor_prices, size_bucket
from shared.profiles.model import DAY, fold
from shared.profiles.store import (
    apply_change,
    apply_changes,
    holder_count,
    iter_activities,
    load_profile,
    token_supply,
)
from shared.profiles.trades import flipped_collections, holding_times
from shared.settings import get_settings
from shared.store import dynamo
from tests.support.dynamo import wipe_table

# 600 examples is the acceptance run (KITH_PROPERTY_EXAMPLES=600); the suite runs fewer to stay quick
PROPERTY_EXAMPLES = int(os.environ.get("KITH_PROPERTY_EXAMPLES", "60"))

WALLETS = [f"0x{i:040x}" for i in range(1, 5)]
TOKEN = "0x" + "aa" * 20
NFT = "0x" + "bb" * 20
ITEMS = "0x" + "dd" * 20
GOV = "0x" + "cc" * 20
VAULT = "0x" + "ee" * 20
STAKING = "0x" + "ff" * 20
MARKET = "0x" + "9e" * 20
ZERO = "0x" + "00" * 20
T0 = 1_700_000_000


def _transfer(block: int, log: int, frm: str, to: str, amount: int) -> TokenTransfer:
    return TokenTransfer(
        chain_id=31337,
        block_number=block,
        block_hash=f"0x{block:064x}",
        block_time=T0 + block * 3600,
        tx_hash=f"0x{block * 1000 + log:064x}",
        log_index=log,
        contract=TOKEN,
        standard=Standard.ERC20,
        from_address=frm,
        to_address=to,
        amount=amount,
        decimals=18,
        symbol="KITH",
    )


def _stake(block: int, wallet: str, contract: str, increase: bool, assets: int) -> StakeEvent:
    vault = contract == VAULT
    return StakeEvent(
        chain_id=31337,
        block_number=block,
        block_hash=f"0x{block:064x}",
        block_time=T0 + block * 3600,
        tx_hash=f"0x{block:064x}",
        log_index=0,
        contract=contract,
        standard=Standard.ERC4626_VAULT if vault else Standard.STAKING,
        action=("deposit" if increase else "withdraw") if vault else ("stake" if increase else "unstake"),
        owner=wallet,
        assets=assets,
        shares=assets * 2 if vault else None,  # a vault whose share price has not moved
        underlying=TOKEN,
    )


def _item_transfer(block: int, frm: str, to: str, token_id: int, amount: int, standard: Standard) -> TokenTransfer:
    return TokenTransfer(
        chain_id=31337,
        block_number=block,
        block_hash=f"0x{block:064x}",
        block_time=T0 + block * 3600,
        tx_hash=f"0x{block * 1000:064x}",
        log_index=0,
        contract=NFT if standard == Standard.ERC721 else ITEMS,
        standard=standard,
        from_address=frm,
        to_address=to,
        amount=amount,
        token_id=token_id,
    )


def _sale(moved: TokenTransfer, price: int) -> NftSale:
    """The market order that paid for `moved`: the next log of its transaction."""
    return NftSale(
        **moved.model_dump(include={"chain_id", "block_number", "block_hash", "block_time", "tx_hash"}),
        log_index=moved.log_index + 1,
        contract=MARKET,
        standard=Standard.SEAPORT,
        order_hash="0x" + "11" * 32,
        side="listing",
        seller=moved.from_address,
        buyer=moved.to_address,
        collection=moved.contract,
        nft_standard=moved.standard,
        token_id=moved.token_id or 0,
        units=moved.amount,
        currency=ZERO,
        price=price,
        seller_proceeds=price * 9 // 10,
        royalty=price - price * 9 // 10,
    )


@st.composite
def histories(draw: st.DrawFn) -> list[ChainEvent]:
    """A valid history: mints first, then transfers of what each wallet holds (fungible tokens, ERC-721
    ids and ERC-1155 ids, which move between wallets and come back), and a few votes."""
    balances = dict.fromkeys(WALLETS, 0)
    nft_owner: dict[int, str] = {}  # ERC-721 id -> its owner
    items: dict[tuple[str, int], int] = {}  # (wallet, ERC-1155 id) -> units
    stakes: dict[tuple[str, str], int] = {}  # (wallet, vault or staking contract) -> assets staked
    events: list[ChainEvent] = []
    n = draw(st.integers(min_value=2, max_value=14))
    for block in range(1, n + 1):
        wallet = draw(st.sampled_from(WALLETS))
        kind = draw(
            st.sampled_from(["mint", "transfer", "vote", "nft", "nft_move", "nft_move", "items", "items", "stake"])
        )
        owned = sorted(token_id for token_id, owner in nft_owner.items() if owner == wallet)
        held_items = sorted(token_id for (owner, token_id), units in items.items() if owner == wallet and units)
        if kind == "stake":
            contract = draw(st.sampled_from([VAULT, STAKING]))
            staked = stakes.get((wallet, contract), 0)
            increase = staked == 0 or draw(st.booleans())
            # often the whole stake, so runs end and begin again
            amount = (
                draw(st.integers(min_value=1, max_value=2**100)) if increase else draw(st.sampled_from([staked, 1]))
            )
            events.append(_stake(block, wallet, contract, increase, amount))
            stakes[(wallet, contract)] = staked + (amount if increase else -amount)
        elif kind == "nft_move" and owned:
            token_id = draw(st.sampled_from(owned))
            to = draw(st.sampled_from(WALLETS))
            events.append(_item_transfer(block, wallet, to, token_id, 1, Standard.ERC721))
            nft_owner[token_id] = to
            if to != wallet and draw(st.booleans()):  # sold on the market, which the transfer settles
                events.append(_sale(events[-1], draw(st.integers(min_value=1, max_value=2**100))))
        elif kind in ("nft", "nft_move"):
            token_id = draw(st.integers(min_value=1, max_value=6))
            if token_id in nft_owner:  # the id exists: move it from its owner instead of minting it twice
                owner, to = nft_owner[token_id], draw(st.sampled_from(WALLETS))
                events.append(_item_transfer(block, owner, to, token_id, 1, Standard.ERC721))
                nft_owner[token_id] = to
            else:
                events.append(_item_transfer(block, ZERO, wallet, token_id, 1, Standard.ERC721))
                nft_owner[token_id] = wallet
        elif kind == "items" and held_items and draw(st.booleans()):
            token_id = draw(st.sampled_from(held_items))
            to = draw(st.sampled_from([*WALLETS, ZERO]))  # a move, or a burn
            units = draw(st.integers(min_value=1, max_value=items[(wallet, token_id)]))
            events.append(_item_transfer(block, wallet, to, token_id, units, Standard.ERC1155))
            items[(wallet, token_id)] -= units
            if to != ZERO:
                items[(to, token_id)] = items.get((to, token_id), 0) + units
        elif kind == "items":
            token_id, units = draw(st.integers(min_value=1, max_value=3)), draw(st.integers(min_value=1, max_value=5))
            events.append(_item_transfer(block, ZERO, wallet, token_id, units, Standard.ERC1155))
            items[(wallet, token_id)] = items.get((wallet, token_id), 0) + units
        elif kind == "mint" or (balances[wallet] == 0 and kind == "transfer"):
            amount = draw(st.integers(min_value=1, max_value=2**200))
            events.append(_transfer(block, 0, ZERO, wallet, amount))
            balances[wallet] += amount
        elif kind == "transfer":
            to = draw(st.sampled_from(WALLETS))
            amount = draw(st.integers(min_value=1, max_value=balances[wallet]))
            events.append(_transfer(block, 0, wallet, to, amount))
            balances[wallet] -= amount
            balances[to] += amount
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


Change = tuple[ChainEvent | None, ChainEvent | None]


def stream_of(history: list[ChainEvent], rolled_back: list[ChainEvent], rng: random.Random) -> list[Change]:
    """Stream records as Lambda may deliver them: INSERTs shuffled across shards and duplicated, each
    rolled-back event's REMOVE twice and after its INSERTs (a stream keeps one item's records in order),
    and batches retried in place, so a retry can hold an event and its rollback."""
    inserts: list[Change] = [(None, e) for e in history + rng.sample(history, k=len(history) // 2)]
    rng.shuffle(inserts)
    records = list(inserts)
    for event in rolled_back:
        last_insert = max(i for i, (_, new) in enumerate(records) if new == event)
        for _ in range(2):
            records.insert(rng.randint(last_insert + 1, len(records)), (event, None))
    for _ in range(rng.randint(0, 3)):
        start = rng.randrange(len(records))
        retried = records[start : start + rng.randint(1, 6)]
        records[start + len(retried) : start + len(retried)] = retried
    return records


def apply_stream(records: list[Change], rng: random.Random) -> None:
    """Stream batches of random size through the batched path (which falls back per event), or one by one."""
    position = 0
    while position < len(records):
        size = rng.randint(1, 8)
        batch = records[position : position + size]
        if rng.random() < 0.2:
            for old, new in batch:
                apply_change(old, new, get_settings())
        else:
            apply_changes(batch, get_settings())
        position += size


def _assert_matches_reference(final_events: list[ChainEvent]) -> None:
    cfg = get_settings()
    expected = fold(final_events, cfg.score)
    for contract in (TOKEN, NFT, ITEMS):
        holders = sum(1 for (_, _, c), h in expected.holdings.items() if c == contract and h.balance > 0)
        assert holder_count(31337, contract, cfg) == holders, f"holder count of {contract}"
    minted = sum(e.amount for e in final_events if isinstance(e, TokenTransfer) and e.contract == TOKEN)
    minted -= sum(
        e.amount
        for e in final_events
        if isinstance(e, TokenTransfer) and e.contract == TOKEN and e.from_address != ZERO
    )
    assert token_supply(31337, TOKEN, cfg) == pytest.approx(minted, rel=1e-12, abs=1e-9), "supply"
    now = T0 + 10**6
    for wallet in WALLETS:
        stored = load_profile(wallet, cfg)
        reference = expected.profiles.get(wallet)
        if reference is None:
            assert stored is None, f"{wallet} should have no profile"
            continue
        assert stored is not None, f"{wallet} lost its profile"
        profile, holdings = stored
        for field in (
            "active_days",
            "chains",
            "transfers_in",
            "transfers_out",
            "votes",
            "first_seen",
            "last_active",
            "staking",
        ):
            assert getattr(profile, field) == getattr(reference, field), field
        for field in ("nft_bought", "nft_sold", "nft_trades"):
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
            for who in (
                getattr(e, "from_address", None),
                getattr(e, "to_address", None),
                getattr(e, "voter", None),
                getattr(e, "owner", None),
                getattr(e, "seller", None),
                getattr(e, "buyer", None),
            )
            if who == wallet
        )
    _assert_collection_matches_reference(final_events, expected, cfg)


def _assert_collection_matches_reference(final_events: list[ChainEvent], expected: Any, cfg: Any) -> None:
    """The NFT collection's rollups equal what the reference fold and the final events give."""
    holders = [h for (_, _, c), h in expected.holdings.items() if c == NFT and h.balance > 0]
    sizes: dict[str, int] = {}
    for holding in holders:
        bucket = size_bucket(holding.balance)
        sizes[bucket or ""] = sizes.get(bucket or "", 0) + 1
    stats = collection_stats(31337, NFT, cfg)
    labels = {"holders_1": "1", "holders_2_5": "2-5", "holders_6_20": "6-20", "holders_over_20": "over 20"}
    assert stats.holders_by_size == {label: sizes.get(name, 0) for name, label in labels.items()}
    held: dict[int, int] = {}
    for profile in expected.profiles.values():
        for key, trade in profile.nft_trades.items():
            if key.startswith(f"31337:{NFT}:"):
                for seconds in holding_times(trade):
                    held[seconds // DAY] = held.get(seconds // DAY, 0) + 1
    assert {d: n for d, n in stats.held_days.items() if n} == held
    flipping = {
        owner
        for (owner, _, c), h in expected.holdings.items()
        if c == NFT and h.balance > 0 and f"31337:{NFT}" in flipped_collections(expected.profiles[owner], 7)
    }
    assert stats.flipper_holders == len(flipping)
    sales = [e for e in final_events if isinstance(e, NftSale)]
    mints = [e for e in final_events if isinstance(e, TokenTransfer) and e.contract == NFT and e.is_mint]
    last_day = (T0 + 10**6) // DAY
    days = collection_days(31337, NFT, T0 // DAY, last_day, cfg)
    assert sum(d.mints for d in days) == len(mints)
    assert sum(d.sales.get(ZERO, 0) for d in days) == len(sales)
    assert sum(d.volume.get(ZERO, 0) for d in days) == sum(s.price for s in sales)
    floor = floor_prices(31337, NFT, T0 // DAY, last_day, cfg)
    assert floor == ({ZERO: min(s.price for s in sales)} if sales else {})


@pytest.mark.integration
@settings(
    max_examples=PROPERTY_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(history=histories(), seed=st.integers(min_value=0, max_value=2**32))
def test_redelivery_disorder_and_rollback_match_the_reference_fold(deployed, history, seed):
    # Given empty tables, a history, and a tail a reorg rolls back
    wipe_table(deployed.app_table)
    rng = random.Random(seed)
    rolled_back = history[-rng.randint(0, min(4, len(history))) :] if rng.random() < 0.7 else []

    # When the stream delivers it shuffled, duplicated, retried, with every rollback twice
    apply_stream(stream_of(history, rolled_back, rng), rng)

    # Then the stored profiles equal the reference fold over the events that remain
    remaining = [e for e in history if e not in rolled_back]
    _assert_matches_reference(remaining)

    # And a fresh copy of the rolled-back events (re-included after the reorg) applies exactly once
    for event in rolled_back:
        apply_change(None, event, get_settings())
        apply_change(event, event, get_settings())  # moto's MODIFY for an identical re-put changes nothing
    _assert_matches_reference(history)

    # And a second reorg, of another depth, interleaved with redelivery of what came before it
    second = history[-rng.randint(1, len(history)) :]
    records: list[Change] = [(None, e) for e in rng.sample(history, k=len(history) // 3)]
    records += [(e, None) for e in second for _ in range(2)]
    apply_stream(records, rng)
    _assert_matches_reference([e for e in history if e not in second])


@pytest.mark.integration
def test_a_writer_racing_a_batch_loses_nothing(deployed):
    # Given empty tables, and another writer that applies an event to the same wallets just before the
    # batch's transaction is sent (botocore's own event hook on the real client)
    wipe_table(deployed.app_table)
    cfg = get_settings()
    history = [
        _transfer(1, 0, ZERO, WALLETS[0], 100),
        _transfer(2, 0, WALLETS[0], WALLETS[1], 40),
        _transfer(3, 0, ZERO, WALLETS[1], 7),
    ]
    racer = _transfer(4, 0, WALLETS[1], WALLETS[0], 5)
    hooks = dynamo.client("dynamodb").meta.events
    raced: list[bool] = []

    def race(**_: object) -> None:
        if not raced:
            raced.append(True)
            apply_change(None, racer, cfg)

    hooks.register("before-call.dynamodb.TransactWriteItems", race)
    try:
        # When the batch applies its events over the items the racer changed meanwhile
        apply_changes([(None, e) for e in history], cfg)
    finally:
        hooks.unregister("before-call.dynamodb.TransactWriteItems", race)

    # Then both writers' events count, each once
    assert raced
    _assert_matches_reference([*history, racer])
