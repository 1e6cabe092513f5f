"""Contracts tracked through the API: adding one backfills its history (progress on GET /backfill/{job}),
its events reach the profiles, the live ingest reads it from then on, and removing it stops that."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from web3 import Web3

from infra.localcloud.main import LocalCloud
from shared.chain.keccak import keccak
from tests.support.ingest_chain import artifacts, receipt, rpc
from tests.support.local_api import admin_call as _call
from tests.support.local_api import wait_for as _wait

pytestmark = [pytest.mark.e2e, pytest.mark.moves_chain]

NEWCOMER = "0x" + "5e" * 20


def _emit(url: str, sender: str, token: str, to: str, value: int) -> int:
    selector = keccak(text="emitTransfer(address,address,uint256)")[:4].hex()
    data = "0x" + selector + "00" * 32 + to[2:].rjust(64, "0") + hex(value)[2:].rjust(64, "0")
    tx = {"from": sender, "to": token, "data": data, "gas": hex(100_000)}
    return int(receipt(url, rpc(url, "eth_sendTransaction", [tx]))["blockNumber"], 16)


def _ingest_now(cloud: LocalCloud) -> None:
    """Run the scheduled ingest at once rather than at its next minute, and let the pipeline settle."""
    assert cloud.app is not None and cloud.app.runner is not None
    cloud.app.runner.trigger_now("IngestFunction")
    cloud.drain(timeout=120)


def _holding(cloud: LocalCloud, token: str) -> dict[str, Any] | None:
    response = requests.get(
        f"{cloud.url}/wallets/{NEWCOMER}", headers={"Authorization": f"Bearer {cloud.admin_key}"}, timeout=30
    )
    if response.status_code != 200:
        return None
    return next((h for h in response.json()["holdings"] if h["contract"] == token), None)


def test_a_contract_added_over_the_api_is_backfilled_into_the_profiles_then_ingested_live(cloud: LocalCloud) -> None:
    url = cloud.rpc_urls[0]
    sender = rpc(url, "eth_accounts", [])[0]
    # Given a token the deployment does not track, with history: minted to a newcomer, then topped up
    art = artifacts()["FixtureERC20"]
    data = (
        Web3().eth.contract(abi=art.abi, bytecode=art.bytecode).constructor("Late Token", "LATE", 6).data_in_transaction
    )
    made = receipt(url, rpc(url, "eth_sendTransaction", [{"from": sender, "data": data, "gas": hex(3_000_000)}]))
    token, born = str(made["contractAddress"]).lower(), int(made["blockNumber"], 16)
    _emit(url, sender, token, NEWCOMER, 5_000_000)
    _emit(url, sender, token, NEWCOMER, 2_000_000)
    tracked = _call(cloud, "GET", "/chains/31337/contracts")["items"]
    assert token not in {c["address"] for c in tracked} and len(tracked) > 0
    # the deployment's chain reads its contract list, not every token, from block 0
    chain = next(c for c in _call(cloud, "GET", "/chains")["items"] if c["chain_id"] == 31337)
    assert (chain["every_token"], chain["start_block"], chain["contracts"]) == (False, 0, len(tracked))

    # When it is tracked over the API from its deployment block
    added = _call(
        cloud,
        "POST",
        "/chains/31337/contracts",
        expect=202,
        json={"contracts": [{"address": token, "standard": "erc20", "start_block": born, "label": "late"}]},
    )

    # Then a backfill of its history starts, and its progress shows until it is done
    job = added["backfill_job"]
    assert job and [c["address"] for c in added["added"]] == [token] and added["already_tracked"] == []

    def finished() -> Any:
        status = _call(cloud, "GET", f"/backfill/{job}")
        return status if status["state"] == "done" else None

    progress = _wait(finished, 120, "the backfill")
    assert progress["from_block"] == born and progress["progress"] == 1.0
    assert progress["done_ranges"] == progress["total_ranges"] >= 1
    # and its events reach the newcomer's profile, with the token's own metadata
    holding = _wait(lambda: (h := _holding(cloud, token)) and h["balance"] == "7000000" and h, 120, "the profile")
    assert holding["symbol"] == "LATE" and holding["decimals"] == 6 and holding["balance_adjusted"] == 7.0
    listed = {c["address"]: c for c in _call(cloud, "GET", "/chains/31337/contracts")["items"]}
    assert listed[token]["backfill_job"] == job and listed[token]["start_block"] == born

    # and the live ingest reads it from now on
    _emit(url, sender, token, NEWCOMER, 1_000_000)
    _ingest_now(cloud)
    _wait(lambda: (h := _holding(cloud, token)) and h["balance"] == "8000000", 120, "the live transfer")

    # Adding it again is a no-op; bad input is a 422 naming the field; an unknown chain is a 404
    again = _call(
        cloud,
        "POST",
        "/chains/31337/contracts",
        expect=202,
        json={"contracts": [{"address": token, "standard": "erc20"}]},
    )
    assert again["added"] == [] and again["already_tracked"] == [token] and again["backfill_job"] is None
    bad = _call(
        cloud,
        "POST",
        "/chains/31337/contracts",
        expect=422,
        json={"contracts": [{"address": "0x12", "standard": "erc20"}]},
    )
    assert bad["field"].startswith("contracts") and bad["error"] == "validation_failed"
    unknown = _call(cloud, "GET", "/chains/999/contracts", expect=404)
    assert unknown["field"] == "chain_id"

    # When it is removed, the live ingest stops reading it (its stored events stay)
    removed = _call(cloud, "DELETE", f"/chains/31337/contracts/{token}")
    assert removed["address"] == token
    _call(cloud, "DELETE", f"/chains/31337/contracts/{token}", expect=404)
    _emit(url, sender, token, NEWCOMER, 9_000_000)
    _ingest_now(cloud)
    final = _holding(cloud, token)
    assert final is not None and final["balance"] == "8000000"
