"""The API's chain routes over the real table: a chain shows every_token and start_block, and a contract
added to a chain that reads every token is a 422 naming the field and the reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared import tracking
from shared.api.app import build_app
from shared.settings import ChainConfig, Settings

pytestmark = pytest.mark.integration

UNREACHABLE = "http://127.0.0.1:9"  # none of these routes reads the chain


def _call(app: Any, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    event = {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Accept": "application/json", "Content-Type": "application/json"},
        "multiValueHeaders": {"Accept": ["application/json"], "Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": "api-chains",
            "authorizer": {"principalId": "test", "key_id": "test", "scopes": "admin"},
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }
    response = app.resolve(event, None)
    return response["statusCode"], json.loads(response["body"])


def test_chains_show_every_token_and_start_block_and_refuse_contracts_on_an_every_token_chain(deployed) -> None:
    tracking.forget_cached()
    tracking.put_chain(
        deployed.app_table, ChainConfig(chain_id=7, rpc_url=UNREACHABLE, every_token=True, start_block=1234)
    )
    tracking.put_chain(deployed.app_table, ChainConfig(chain_id=8, rpc_url=UNREACHABLE))
    app = build_app()

    status, listed = _call(app, "GET", "/chains")
    assert status == 200
    chains = {c["chain_id"]: c for c in listed["items"]}
    assert (chains[7]["every_token"], chains[7]["start_block"], chains[7]["contracts"]) == (True, 1234, 0)
    assert (chains[8]["every_token"], chains[8]["start_block"]) == (False, 0)

    contract = {"address": "0x" + "c0" * 20, "standard": "erc20"}
    status, refused = _call(app, "POST", "/chains/7/contracts", {"contracts": [contract]})
    assert status == 422 and refused["field"] == "contracts"
    assert "every_token" in refused["message"] and "contract list" in refused["message"]
    assert tracking.list_contracts(Settings(app_table=deployed.app_table), 7) == []

    status, added = _call(app, "POST", "/chains/8/contracts", {"contracts": [contract]})
    assert status == 202 and [c["address"] for c in added["added"]] == [contract["address"]]
