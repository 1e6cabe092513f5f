"""An airdrop end to end on anvil and moto: a segment snapshotted at a final block through the API, its
Merkle root deployed in a KithMerkleDistributor, claims made with Kith's proofs, ingested and tracked."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from web3 import Web3
from web3.exceptions import ContractLogicError

from infra.contracts.deploy import deploy, deploy_distributor, load_artifacts, transact
from infra.localcloud.anvil import Anvil
from infra.localcloud.template import Template
from shared.airdrops import merkle
from shared.airdrops.claims import apply_images as apply_claims
from shared.api.app import build_app
from shared.cli import main
from shared.ingest import ingest_chain
from shared.profiles.stream import apply_images as apply_profiles
from shared.segments import store as segments
from shared.segments.rules import parse_rule
from shared.settings import ChainConfig, TrackedContract, get_settings
from shared.store import dynamo
from shared.tracking import tracked_chain
from tests.integration.test_lending_health import StreamReader
from tests.support.ingest_chain import fast_options

pytestmark = pytest.mark.integration

CONFIRMATIONS = 3
DAY = 86_400
UNIT = 10**18


def api(app: Any, method: str, path: str, body: dict[str, Any] | None = None, **query: str) -> tuple[int, Any]:
    """One request through the API function's resolver, as API Gateway's proxy integration delivers it."""
    event = {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Accept": "application/json", "Content-Type": "application/json"},
        "multiValueHeaders": {"Accept": ["application/json"], "Content-Type": ["application/json"]},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": "airdrop",
            "authorizer": {"principalId": "test", "key_id": "test", "scopes": "write"},
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }
    response = app.resolve(event, None)
    headers = {k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}
    headers.update(response.get("headers") or {})
    is_json = headers.get("Content-Type", "").startswith("application/json")
    return response["statusCode"], json.loads(response["body"]) if is_json else (response["body"], headers)


def mine(w3: Web3, blocks: int = 1, seconds: int = 0) -> None:
    if seconds:
        w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    for _ in range(blocks):
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def test_a_segment_airdrop_is_claimed_with_kiths_proofs_and_its_claims_and_sales_are_tracked(
    anvil_chain: Anvil, deployed: Any, template: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a token, four holders of it in a segment and a chain that treats blocks as final after 3 more
    w3 = Web3(Web3.HTTPProvider(anvil_chain.url))
    artifacts = load_artifacts()
    owner = str(w3.eth.accounts[0]).lower()
    holders = sorted(str(a).lower() for a in w3.eth.accounts[1:5])
    outsider = str(w3.eth.accounts[6]).lower()
    token = deploy(w3, artifacts["KithToken"], "Kith", "KITH", 18, sender=owner)
    token_address = str(token.address).lower()
    transact(w3, token, "mint", owner, 10_000 * UNIT, sender=owner)
    for i, holder in enumerate(holders):
        transact(w3, token, "transfer", holder, (i + 1) * UNIT, sender=owner)
    chain = ChainConfig(
        chain_id=31337,
        rpc_url=anvil_chain.url,
        confirmations=CONFIRMATIONS,
        contracts=[TrackedContract(address=token_address, standard="erc20")],
    )
    monkeypatch.setenv("KITH_CHAINS", json.dumps([chain.model_dump(mode="json")]))
    get_settings.cache_clear()
    settings = get_settings()
    segment = segments.create_segment("Holders", parse_rule({"match": {"type": "label", "label": "whale"}}), settings)
    dynamo.batch_write(settings.app_table, puts=[segments.member_put(segment.segment_id, h, 1, 0) for h in holders])
    app = build_app()
    pinned = w3.eth.block_number
    rule = {"kind": "balance", "token": token_address, "numerator": "1", "denominator": "2"}
    request = {"segment_id": segment.segment_id, "chain_id": 31337, "block": pinned, "rule": rule}

    # When the snapshot is asked for before its block is final, it is refused, and nothing is stored
    status, refused = api(app, "POST", "/airdrops", request)
    assert (status, refused["error"], refused["field"]) == (409, "block_not_final", "block")
    assert api(app, "GET", "/airdrops", segment_id=segment.segment_id)[1]["items"] == []

    # Then, once the block is final (and later transfers change balances), it pins the balances at that block
    mine(w3, CONFIRMATIONS)
    transact(w3, token, "transfer", holders[0], 100 * UNIT, sender=owner)
    status, taken = api(app, "POST", "/airdrops", request)
    assert status == 201, taken
    expected = [(h, (i + 1) * UNIT // 2) for i, h in enumerate(holders)]
    assert (taken["block"], taken["recipients"], taken["total"]) == (pinned, 4, str(sum(n for _, n in expected)))
    assert taken["merkle_root"] == merkle.build(expected).root
    assert taken["rule_hash"].startswith("sha256:")
    snapshot_id = taken["snapshot_id"]
    status, (text, headers) = api(app, "GET", f"/airdrops/{snapshot_id}/recipients.csv")
    assert status == 200 and "X-Next-Cursor" not in headers
    assert list(csv.reader(io.StringIO(text))) == [["address", "amount"]] + [[a, str(n)] for a, n in expected]
    assert api(app, "GET", f"/airdrops/{snapshot_id}/merkle")[1]["merkle_root"] == taken["merkle_root"]
    assert api(app, "GET", f"/airdrops/{snapshot_id}/merkle/dump")[1]["tree"][0] == taken["merkle_root"]
    assert api(app, "GET", f"/airdrops/{snapshot_id}/proof/{outsider}")[0] == 404

    # When a distributor holding the root is deployed, funded and linked (which tracks its claims)
    distributor_address = deploy_distributor(
        w3, artifacts, token_address, taken["merkle_root"], int(taken["total"]), deployer=owner
    )
    status, linked = api(app, "POST", f"/airdrops/{snapshot_id}/distributor", {"address": distributor_address})
    assert status == 201 and linked["token"] == token_address, linked
    assert api(app, "POST", f"/airdrops/{snapshot_id}/distributor", {"address": distributor_address})[0] == 409
    distributor = w3.eth.contract(
        address=Web3.to_checksum_address(distributor_address), abi=artifacts["KithMerkleDistributor"].abi
    )

    # Then a claim with Kith's proof pays, and a wrong proof or amount reverts
    def claim(holder: str, amount: int, proof: list[str]) -> None:
        transact(w3, distributor, "claim", holder, amount, [bytes.fromhex(p[2:]) for p in proof], sender=holder)

    proofs = {h: api(app, "GET", f"/airdrops/{snapshot_id}/proof/{h}")[1] for h in holders}
    with pytest.raises(ContractLogicError):
        distributor.functions.claim(
            Web3.to_checksum_address(holders[1]), int(proofs[holders[1]]["amount"]), proofs[holders[0]]["proof"]
        ).call()
    with pytest.raises(ContractLogicError):
        distributor.functions.claim(
            Web3.to_checksum_address(holders[0]), int(proofs[holders[0]]["amount"]) + 1, proofs[holders[0]]["proof"]
        ).call()
    before = token.functions.balanceOf(Web3.to_checksum_address(holders[0])).call()
    claim(holders[0], int(proofs[holders[0]]["amount"]), proofs[holders[0]]["proof"])
    assert token.functions.balanceOf(Web3.to_checksum_address(holders[0])).call() == before + expected[0][1]
    # the first holder sells a day later; the second claims and sells only after eight days
    mine(w3, seconds=DAY)
    transact(w3, token, "transfer", outsider, UNIT, sender=holders[0])
    claim(holders[1], int(proofs[holders[1]]["amount"]), proofs[holders[1]]["proof"])
    mine(w3, seconds=8 * DAY)
    transact(w3, token, "transfer", outsider, UNIT // 4, sender=holders[1])
    claim(holders[2], int(proofs[holders[2]]["amount"]), proofs[holders[2]]["proof"])
    mine(w3, CONFIRMATIONS)

    # And when the chain is ingested and the stream delivered to profiles and to the claims function
    stream = StreamReader(deployed.events_table, template, "AirdropClaimsFunction")
    ingest_chain(tracked_chain(settings, 31337), settings, fast_options())
    everything, claims_batch = stream.read()
    apply_profiles(((r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in everything), settings)
    applied = apply_claims(
        ((r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in claims_batch), settings
    )

    # Then three claims are tracked and exactly the first holder claimed then sold within 7 days
    assert applied.inserted == 3 and len(claims_batch) == 3
    status, view = api(app, "GET", f"/airdrops/{snapshot_id}/claims")
    assert status == 200, view
    assert (view["recipients"], view["claimed"], view["claimed_then_sold"]) == (4, 3, 1)
    by_address = {c["address"]: c for c in view["claims"]}
    assert set(by_address) == set(holders[:3])
    assert [by_address[h]["sold_within_7_days"] for h in holders[:3]] == [True, False, False]
    assert by_address[holders[2]]["amount"] == str(expected[2][1])

    # And a reorg's rollback of a claim (its REMOVE record) takes exactly that claim back
    rollback = [(r["dynamodb"].get("NewImage"), None) for r in claims_batch if holders[2][2:] in json.dumps(r)]
    assert len(rollback) == 1
    assert apply_claims(rollback, settings).removed == 1
    assert api(app, "GET", f"/airdrops/{snapshot_id}/claims")[1]["claimed"] == 2


def test_the_cli_refuses_a_block_that_is_not_final_then_snapshots_it_with_a_fixed_amount(
    anvil_chain: Anvil, deployed: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a segment of three wallets on a chain whose blocks are final after 3 more
    w3 = Web3(Web3.HTTPProvider(anvil_chain.url))
    chain = ChainConfig(chain_id=31337, rpc_url=anvil_chain.url, confirmations=CONFIRMATIONS)
    monkeypatch.setenv("KITH_CHAINS", json.dumps([chain.model_dump(mode="json")]))
    get_settings.cache_clear()
    settings = get_settings()
    segment = segments.create_segment("Fixed", parse_rule({"match": {"type": "label", "label": "whale"}}), settings)
    wallets = [f"0x{i:040x}" for i in (3, 1, 2)]
    dynamo.batch_write(settings.app_table, puts=[segments.member_put(segment.segment_id, w, 1, 0) for w in wallets])
    mine(w3)
    pinned = w3.eth.block_number
    command = ["airdrops", "snapshot", "--segment", segment.segment_id, "--chain", "31337", "--block", str(pinned)]

    # When it is snapshotted before the block is final, it fails with the reason
    assert main([*command, "--fixed", "5"]) == 1
    assert f"block {pinned} is not final" in capsys.readouterr().err

    # Then once final, every member gets the fixed amount and the root is the tree of exactly those rows
    mine(w3, CONFIRMATIONS)
    assert main([*command, "--fixed", "5"]) == 0
    printed = capsys.readouterr().out
    root = merkle.build([(w, 5) for w in sorted(wallets)]).root
    assert "3 recipients, total 15" in printed and f"merkle root {root}" in printed
