"""Wallet intelligence on the simulated community, over HTTP: personas land in the right labels and
churn states, and every segment's live membership equals a full re-evaluation of its rule, both after
ingestion and after a chain reorganisation."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from infra.localcloud.main import LocalCloud
from infra.simulator.txs import Rpc, encode_call

pytestmark = pytest.mark.e2e


def _get(cloud: LocalCloud, path: str, **params: Any) -> Any:
    response = requests.get(
        f"{cloud.url}{path}", headers={"Authorization": f"Bearer {cloud.admin_key}"}, params=params, timeout=60
    )
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    return response.json()


def _members(cloud: LocalCloud, segment_id: str) -> set[str]:
    found: set[str] = set()
    cursor = None
    while True:
        page = _get(cloud, f"/segments/{segment_id}/members", limit=100, **({"cursor": cursor} if cursor else {}))
        found |= {m["address"] for m in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            return found


def _full_re_evaluation(cloud: LocalCloud) -> dict[str, set[str]]:
    """Every segment's rule over every profile, from scratch (the reference the live membership must equal)."""
    from shared import intel
    from shared.segments import wallets
    from shared.segments.evaluate import matches
    from shared.settings import get_settings

    assert cloud.app is not None and cloud.app.host is not None

    def evaluate() -> dict[str, set[str]]:
        context = wallets.load_context(get_settings())
        expected: dict[str, set[str]] = {s.segment_id: set() for s in context.segments}
        for profile in intel.iter_profiles(context.settings):
            inputs = intel.load_wallet(profile.address, context.settings)
            assert inputs is not None
            facts = wallets.derive(inputs, context, intel.evaluated_at(inputs)).facts
            for segment in context.segments:
                if matches(segment.rule, facts):
                    expected[segment.segment_id].add(profile.address)
        return expected

    result: dict[str, set[str]] = cloud.app.host.call_as("ApiFunction", evaluate)
    return result


def _assert_live_equals_full(cloud: LocalCloud) -> dict[str, set[str]]:
    expected = _full_re_evaluation(cloud)
    segments = {s["segment_id"]: s["name"] for s in _get(cloud, "/segments")["items"]}
    assert set(expected) == set(segments)
    for segment_id, wallets in expected.items():
        assert _members(cloud, segment_id) == wallets, f"segment {segments[segment_id]}"
    return expected


def test_personas_land_in_their_labels_and_churn_states(cloud: LocalCloud) -> None:
    personas = cloud.deployment.personas

    def view(address: str) -> Any:
        return _get(cloud, f"/wallets/{address}")

    assert all("whale" in view(w)["labels"] for w in personas["whale"])
    assert all(view(w)["churn_state"] == "exited" for w in personas["seller_exited"])
    assert all(view(w)["churn_state"] in ("dormant", "at_risk") for w in personas["dormant"])
    assert all("voter" in view(w)["labels"] for w in personas["voter"])
    steady = [view(w) for w in personas["steady"]]
    assert sum("diamond_hands" in v["labels"] for v in steady) >= 0.9 * len(steady)
    assert all("collector" in view(w)["labels"] for w in personas["collector"])


def test_segments_equal_a_full_re_evaluation_after_ingestion_and_after_a_reorg(cloud: LocalCloud) -> None:
    # Given the caught-up pipeline, live membership equals a full re-evaluation
    before = _assert_live_equals_full(cloud)
    assert any(before.values()), "the demo segments have members"

    # When the newest 3 blocks of chain 31337 are replaced by blocks in which a whale sells out
    chain = next(c for c in cloud.deployment.chains if c.chain_id == 31337)
    rpc = Rpc(chain.rpc_url)
    whale = cloud.deployment.personas["whale"][0]
    token = chain.contracts["token"]
    balance = int(rpc.call("eth_call", [{"to": token, "data": encode_call("balanceOf(address)", whale)}, "latest"]), 16)
    rpc.call("anvil_autoImpersonateAccount", [True])
    sell_out = {
        "from": whale,
        "to": token,
        "data": encode_call("transfer(address,uint256)", chain.deployer, balance),
        "gas": hex(100_000),
        "gasPrice": "0x0",
    }
    rpc.call("anvil_reorg", [3, [[sell_out, 0]]])
    rpc.call("evm_mine", [])
    cloud.catch_up(timeout=300)

    # Then the whale's sale shows: no balance left, an exit time, no whale label...
    view = _get(cloud, f"/wallets/{whale}")
    (holding,) = [h for h in view["holdings"] if h["chain_id"] == 31337 and h["contract"] == token.lower()]
    assert holding["balance"] == "0" and holding["exited_at"] is not None
    assert "whale" not in view["labels"]
    # ...and live membership still equals a full re-evaluation
    _assert_live_equals_full(cloud)


def test_overlap_of_two_segments_and_of_two_tokens(cloud: LocalCloud) -> None:
    segments = {s["name"]: s["segment_id"] for s in _get(cloud, "/segments")["items"]}
    voters, diamonds = segments["Active voters"], segments["Diamond hands"]
    result = _get(cloud, "/overlap", segment_a=voters, segment_b=diamonds, limit=1000)
    expected = _members(cloud, voters) & _members(cloud, diamonds)
    assert set(result["wallets"]) == expected and result["both"] == len(expected)

    token_a, token_b = (f"{c.chain_id}:{c.contracts['token']}" for c in cloud.deployment.chains)
    tokens = _get(cloud, "/overlap", token_a=token_a, token_b=token_b, limit=1000)
    assert tokens["both"] >= 1
    for wallet in tokens["wallets"][:5]:
        held = {h["chain_id"] for h in _get(cloud, f"/wallets/{wallet}")["holdings"] if int(h["balance"]) > 0}
        assert {31337, 31338} <= held
    bad = requests.get(
        f"{cloud.url}/overlap",
        params={"token_a": "nope"},
        headers={"Authorization": f"Bearer {cloud.admin_key}"},
        timeout=30,
    )
    assert bad.status_code == 422 and bad.json()["field"]
