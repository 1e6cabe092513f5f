"""A chain that tracks every token from its start block (anvil + moto): no event below the start block is stored,
every token Transfer at or above it is, from any contract, and a later change of the start block moves no cursor."""

from __future__ import annotations

from typing import Any

import pytest

from shared import tracking
from shared.chain import abi
from shared.chain.codec import event_from_item
from shared.events import Standard, TokenTransfer
from shared.ingest import ingest_all
from shared.settings import ChainConfig, Settings, TrackedContract
from shared.store.dynamo import client, from_item, to_item
from shared.store.keys import cursor_key
from tests.support.ingest_chain import (
    ZERO,
    A,
    B,
    C,
    a,
    deploy_tokens,
    emit_everything,
    fast_options,
    rpc,
    scan_items,
)
from tests.support.ingest_fixtures import history_chain  # noqa: F401

pytestmark = pytest.mark.integration

# a well-formed token transfer log: topic0 and its number of topics (ERC-20 3, ERC-721 4, ERC-1155 4)
_TOKEN_SHAPES = {(abi.TRANSFER, 3), (abi.TRANSFER, 4), (abi.TRANSFER_SINGLE, 4), (abi.TRANSFER_BATCH, 4)}


def _head(url: str) -> int:
    return int(rpc(url, "eth_blockNumber", []), 16)


def _token_transfer_logs(url: str) -> list[dict[str, Any]]:
    """Every well-formed token Transfer log on the chain, from any contract, read straight from the node."""
    logs = rpc(url, "eth_getLogs", [{"fromBlock": "0x0", "toBlock": hex(_head(url))}])
    return [log for log in logs if (log["topics"][0] if log["topics"] else None, len(log["topics"])) in _TOKEN_SHAPES]


def _stored(events_table: str) -> list[Any]:
    return [event_from_item(item) for item in scan_items(events_table)]


def _cursor(app_table: str) -> int:
    item = client("dynamodb").get_item(TableName=app_table, Key=to_item(cursor_key(31337)), ConsistentRead=True)
    return int(from_item(item["Item"])["last_block"])


def test_every_token_from_the_start_block_stores_each_token_transfer_at_or_above_it_and_nothing_below(
    history_chain,  # noqa: F811
    deployed,
) -> None:
    chain, f = history_chain
    # Given token transfers of each standard below the start block
    f.send("erc20", "emitTransfer", a(ZERO), a(A), 111)
    f.send("erc721", "emitTransfer", a(ZERO), a(B), 222)
    f.send("erc1155", "emitSingle", a(ZERO), a(C), 333, 999)
    start_block = _head(chain.url) + 1
    # and, from the start block on, every event shape (votes, lending, a malformed Transfer among them) and a
    # token deployed after the start block, which no configuration names
    emit_everything(f)
    (late_token,) = deploy_tokens(chain.url, 1)
    late = f.w3.eth.contract(address=a(late_token), abi=f.contracts["erc20"].abi)
    f.contracts["late"] = late
    f.send("late", "emitTransfer", a(A), a(C), 444)
    below = [log for log in _token_transfer_logs(chain.url) if int(log["blockNumber"], 16) < start_block]
    assert len(below) == 3

    # When the chain, tracking every token from the start block, is ingested
    config = ChainConfig(
        chain_id=31337,
        rpc_url=chain.url,
        every_token=True,
        start_block=start_block,
        max_range=50,
        initial_range=7,
        reorg_window=8,
    )
    settings = Settings(events_table=deployed.events_table, app_table=deployed.app_table, chains=[config])
    tracking.forget_cached()
    (summary,) = ingest_all(settings, options=fast_options()).chains

    # Then its first range began at the start block, and it read up to the head
    head = _head(chain.url)
    assert summary.stopped == "caught_up" and summary.cursor == head == _cursor(deployed.app_table)
    assert summary.blocks == head - start_block + 1

    # and what is stored is exactly the token transfers at or above the start block, from every contract
    events = _stored(deployed.events_table)
    expected = {
        (int(log["blockNumber"], 16), int(log["logIndex"], 16))
        for log in _token_transfer_logs(chain.url)
        if int(log["blockNumber"], 16) >= start_block
    }
    assert {(e.block_number, e.log_index) for e in events} == expected
    assert all(isinstance(e, TokenTransfer) and e.block_number >= start_block for e in events)
    assert dict(summary.events) == {"transfer": 12} and summary.malformed == 1
    assert {e.amount for e in events}.isdisjoint({111, 999}) and {e.token_id for e in events}.isdisjoint({222, 333})
    emitters = {e.contract for e in events}
    assert emitters == {c.address.lower() for k, c in f.contracts.items() if k not in ("governor", "pool")}
    late_transfer = next(e for e in events if e.contract == late_token)
    assert (late_transfer.amount, late_transfer.symbol, late_transfer.decimals) == (444, "T0", 6)
    assert {e.standard for e in events} == {Standard.ERC20, Standard.ERC721, Standard.ERC1155}

    # When the start block is lowered to 0, the cursor stays: nothing below the old start block is read
    tracking.put_chain(deployed.app_table, config.model_copy(update={"start_block": 0}))
    (again,) = ingest_all(settings, options=fast_options()).chains
    assert again.stopped == "caught_up" and again.blocks == 0 and _cursor(deployed.app_table) == head
    assert len(_stored(deployed.events_table)) == len(events)

    # When it is raised past the head, the cursor is not skipped ahead: the next transfer is still read
    tracking.put_chain(deployed.app_table, config.model_copy(update={"start_block": head + 1_000}))
    f.send("late", "emitTransfer", a(C), a(B), 555)
    (live,) = ingest_all(settings, options=fast_options()).chains
    assert live.stopped == "caught_up" and dict(live.events) == {"transfer": 1}
    assert _cursor(deployed.app_table) == _head(chain.url) == head + 1
    assert 555 in {e.amount for e in _stored(deployed.events_table)}


def test_every_token_and_a_contract_list_exclude_each_other_naming_the_field(deployed) -> None:
    settings = Settings(events_table=deployed.events_table, app_table=deployed.app_table)
    tracking.forget_cached()
    unreachable = "http://127.0.0.1:9"  # neither write reads the chain
    token = TrackedContract(address="0x" + "c0" * 20, standard=Standard.ERC20)

    # Given a chain that tracks every token: adding a contract to it is refused
    tracking.put_chain(deployed.app_table, ChainConfig(chain_id=7, rpc_url=unreachable, every_token=True))
    with pytest.raises(tracking.TrackingError) as refused:
        tracking.track_contracts(settings, 7, [token])
    assert refused.value.field == "contracts" and "every_token" in str(refused.value)
    assert tracking.list_contracts(settings, 7) == []

    # Given a chain that tracks a contract: setting every_token on it is refused, and its settings stay
    tracking.put_chain(deployed.app_table, ChainConfig(chain_id=8, rpc_url=unreachable, start_block=5))
    tracking.track_contracts(settings, 8, [token])
    with pytest.raises(tracking.TrackingError) as refused:
        tracking.put_chain(deployed.app_table, ChainConfig(chain_id=8, rpc_url=unreachable, every_token=True))
    assert refused.value.field == "every_token" and "tracks 1 contracts" in str(refused.value)
    kept = tracking.load_chain(deployed.app_table, 8)
    assert kept is not None and (kept.every_token, kept.start_block, len(kept.contracts)) == (False, 5, 1)
