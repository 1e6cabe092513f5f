"""Tracked contracts are data: 500 contracts on one chain are added after ingestion began, backfilled from
their start block through the backfill queue, then ingested live, with nothing in any environment."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from web3 import Web3

from shared import tracking
from shared.backfill import backfill_status, drain_queue
from shared.chain.codec import event_from_item
from shared.chain.keccak import keccak
from shared.events import Standard, TokenTransfer
from shared.ingest import ingest_all
from shared.settings import ChainConfig, Settings, TrackedContract
from shared.store.dynamo import client, from_item, to_item
from shared.store.keys import chain_config_key
from tests.support.ingest_chain import artifacts, fast_options, rpc, scan_items

pytestmark = pytest.mark.integration

CONTRACTS = 500
HOLDER = "0x" + "a1" * 20


def receipt(url: str, tx_hash: str, timeout: float = 120.0) -> dict[str, Any]:
    """The transaction's receipt, waiting for anvil (a batch of 500 takes a while on a busy machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rpc(url, "eth_getTransactionReceipt", [tx_hash])
        if found is not None:
            return dict(found)
        time.sleep(0.05)
    raise AssertionError(f"no receipt for {tx_hash} after {timeout:.0f} s")


def _batch(url: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    answers = sorted(requests.post(url, json=payload, timeout=120).json(), key=lambda a: a["id"])
    assert all("error" not in a for a in answers), [a for a in answers if "error" in a][:2]
    return [a["result"] for a in answers]


def _send_all(url: str, sender: str, txs: list[dict[str, Any]]) -> list[str]:
    """Send one after the other: anvil takes a batch's transactions concurrently, and one that arrives
    ahead of its nonce can stay queued for good (seen for about one run in four on this machine)."""
    return [str(rpc(url, "eth_sendTransaction", [tx])) for tx in txs]


def _transfer(contract: str, token_id: int, sender: str) -> dict[str, Any]:
    # FixtureERC20.emitTransfer(from, to, value): emits Transfer(from, to, value) from `contract`
    selector = "0x" + keccak(text="emitTransfer(address,address,uint256)")[:4].hex()
    data = selector + "00" * 32 + HOLDER[2:].rjust(64, "0") + hex(token_id)[2:].rjust(64, "0")
    return {"from": sender, "to": contract, "data": data, "gas": hex(100_000)}


def _transfers(events_table: str) -> list[TokenTransfer]:
    events = [event_from_item(item) for item in scan_items(events_table)]
    return [e for e in events if isinstance(e, TokenTransfer)]


def test_five_hundred_contracts_added_to_a_running_chain_are_backfilled_then_ingested_live(
    anvil_chain, deployed
) -> None:
    url = anvil_chain.url
    sender = rpc(url, "eth_accounts", [])[0]
    # Given one token deployed and ingested, with the chain's cursor at its head
    art = artifacts()["FixtureERC20"]
    factory = Web3().eth.contract(abi=art.abi, bytecode=art.bytecode)
    data = factory.constructor("Kith Token", "KITH", 18).data_in_transaction
    deployed_at = receipt(url, rpc(url, "eth_sendTransaction", [{"from": sender, "data": data, "gas": hex(3_000_000)}]))
    first = str(deployed_at["contractAddress"]).lower()
    start_block = int(deployed_at["blockNumber"], 16)
    chain = ChainConfig(
        chain_id=31337,
        rpc_url=url,
        contracts=[TrackedContract(address=first, standard=Standard.ERC20, start_block=start_block)],
    )
    settings = Settings(
        events_table=deployed.events_table,
        app_table=deployed.app_table,
        backfill_queue_url=deployed.physical["BackfillQueue"],
        chains=[chain],
    )
    tracking.forget_cached()
    ingest_all(settings, options=fast_options())

    # and 500 more copies of its code, each emitting one Transfer to the holder, not tracked yet
    code = rpc(url, "eth_getCode", [first, "latest"])
    others = [f"0x{0xC0DE0000 + i:040x}" for i in range(CONTRACTS)]
    _batch(url, [("anvil_setCode", [address, code]) for address in others])
    hashes = _send_all(url, sender, [_transfer(a, i + 1, sender) for i, a in enumerate(others)])
    assert all(receipt(url, h)["status"] == "0x1" for h in hashes[-3:])
    assert len(set(hashes)) == CONTRACTS
    head = int(rpc(url, "eth_blockNumber", []), 16)

    # When all 500 are tracked (one request's worth), starting from the first copy's block
    added = tracking.track_contracts(
        settings,
        31337,
        [
            TrackedContract(address=a, standard=Standard.ERC20, start_block=start_block, label=f"c{i}")
            for i, a in enumerate(others)
        ],
    )

    # Then they are all data in the App table, and one backfill reads their history
    assert len(added.added) == CONTRACTS and added.already_tracked == [] and added.backfill_job
    loaded = tracking.load_chain(deployed.app_table, 31337)
    assert loaded is not None and len(loaded.contracts) == CONTRACTS + 1
    status = backfill_status(deployed.app_table, added.backfill_job)
    assert (status.from_block, status.state) == (start_block, "running") and status.to_block >= head
    drain_queue(settings, fast_options())
    status = backfill_status(deployed.app_table, added.backfill_job)
    assert status.finished and status.done_ranges == status.total_ranges

    transfers = _transfers(deployed.events_table)
    assert {t.contract for t in transfers if t.to_address == HOLDER} == set(others)

    # and the live ingest reads all 501 from now on: one more transfer from the last copy arrives
    receipt(url, _send_all(url, sender, [_transfer(others[-1], 10_000, sender)])[0])
    summary = ingest_all(settings, options=fast_options())
    assert [c.stopped for c in summary.chains] == ["caught_up"]
    assert sum(1 for t in _transfers(deployed.events_table) if t.contract == others[-1]) == 2

    # Adding the same contracts again changes nothing and starts no backfill
    again = tracking.track_contracts(settings, 31337, [TrackedContract(address=others[0], standard=Standard.ERC20)])
    assert again.added == [] and again.already_tracked == [others[0]] and again.backfill_job is None

    # No function's environment carries the chains: they are only in the table (the seed's marker aside)
    config = from_item(
        client("dynamodb").get_item(TableName=deployed.app_table, Key=to_item(chain_config_key(31337)))["Item"]
    )
    assert config["rpc_url"] == url and "contracts" not in config
    assert len(json.dumps(settings.model_dump(include={"events_table", "app_table"}))) < 200


def test_a_removed_contract_is_no_longer_read_and_a_chain_without_contracts_waits(anvil_chain, deployed) -> None:
    url = anvil_chain.url
    token = "0x" + "c0" * 20
    chain = ChainConfig(
        chain_id=31337, rpc_url=url, contracts=[TrackedContract(address=token, standard=Standard.ERC20)]
    )
    settings = Settings(events_table=deployed.events_table, app_table=deployed.app_table, chains=[chain])
    tracking.forget_cached()
    assert [c.stopped for c in ingest_all(settings, options=fast_options()).chains] == ["caught_up"]
    removed = tracking.untrack_contract(settings, 31337, token)
    assert removed is not None and removed["address"] == token
    assert tracking.untrack_contract(settings, 31337, token) is None
    # the seed is not applied again (same content), so the removal holds
    assert [c.stopped for c in ingest_all(settings, options=fast_options()).chains] == ["no_contracts"]
    with pytest.raises(tracking.ChainNotTracked):
        tracking.tracked_chain(settings, 5)
