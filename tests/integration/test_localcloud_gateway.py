"""The local API Gateway over real HTTP: authorizer semantics and v1 proxy events."""

from __future__ import annotations

import itertools
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.localcloud.gateway import Gateway, GatewayError, evaluate_policy
from infra.localcloud.main import LocalApp
from infra.localcloud.template import load_template

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "localcloud"
_stacks = itertools.count(1)


@pytest.fixture(scope="module")
def app(moto_endpoint: str) -> Iterator[LocalApp]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    template = load_template(FIXTURES / "template.yaml")
    local = LocalApp(
        template,
        moto_endpoint,
        stack_name=f"lc-gateway-{next(_stacks)}",
        base_dir=FIXTURES,
        schedules_enabled=False,
    )
    with local:
        yield local


def module(app: LocalApp, function: str) -> Any:
    assert app.host is not None
    return app.host.module(function)


def test_missing_identity_header_is_401_without_invoking_the_authorizer(app: LocalApp) -> None:
    calls = len(module(app, "AuthorizerFunction").CALLS)
    response = requests.get(f"{app.url}/wallets", timeout=10)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert len(module(app, "AuthorizerFunction").CALLS) == calls


def test_authorizer_raising_unauthorized_is_401(app: LocalApp) -> None:
    response = requests.get(f"{app.url}/wallets", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_deny_policy_is_403(app: LocalApp) -> None:
    echo_calls = len(module(app, "EchoFunction").EVENTS)
    response = requests.get(f"{app.url}/wallets", headers={"Authorization": "Bearer deny"}, timeout=10)
    assert response.status_code == 403
    assert response.json() == {"message": "User is not authorized to access this resource with an explicit deny"}
    assert len(module(app, "EchoFunction").EVENTS) == echo_calls


def test_allowed_request_reaches_the_handler_as_a_v1_proxy_event(app: LocalApp) -> None:
    # Given an allowed key
    headers = {"Authorization": "Bearer allow", "X-Trace": "t-1", "Content-Type": "application/json"}
    # When posting with a query string and a body
    response = requests.post(
        f"{app.url}/wallets/0xAbC/tags?limit=5&tag=a&tag=b",
        headers=headers,
        data=json.dumps({"tag": "whale"}),
        timeout=10,
    )
    # Then the handler's response comes back as is
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    event = response.json()
    assert event["resource"] == "/{proxy+}"
    assert event["path"] == "/wallets/0xAbC/tags"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"proxy": "wallets/0xAbC/tags"}
    assert event["queryStringParameters"] == {"limit": "5", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"limit": ["5"], "tag": ["a", "b"]}
    assert event["headers"]["X-Trace"] == "t-1"
    assert event["multiValueHeaders"]["X-Trace"] == ["t-1"]
    assert json.loads(event["body"]) == {"tag": "whale"} and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["resourcePath"] == "/{proxy+}" and context["stage"] == "v1"
    assert context["path"] == "/v1/wallets/0xAbC/tags"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"].startswith("python-requests")
    assert context["accountId"] == "123456789012" and context["apiId"] and context["requestId"]
    # and the authorizer's context arrives with string values, plus principalId
    authorizer = context["authorizer"]
    assert authorizer["principalId"] == "user-allow"
    assert authorizer["keyId"] == "k-1" and authorizer["admin"] == "false" and authorizer["rank"] == "3"
    assert isinstance(authorizer["integrationLatency"], int)


def test_the_authorizer_event_is_a_request_event(app: LocalApp) -> None:
    requests.get(f"{app.url}/v1/segments?x=1", headers={"Authorization": "Bearer fresh-deny"}, timeout=10)
    event = module(app, "AuthorizerFunction").CALLS[-1]
    assert event["type"] == "REQUEST"
    assert event["methodArn"].startswith("arn:aws:execute-api:us-east-1:123456789012:")
    assert event["methodArn"].endswith("/v1/GET/segments")
    assert event["resource"] == "/{proxy+}" and event["path"] == "/segments"
    assert event["queryStringParameters"] == {"x": "1"}
    assert event["pathParameters"] == {"proxy": "segments"}
    assert event["headers"]["Authorization"] == "Bearer fresh-deny"


def test_authorizer_results_are_cached_per_identity_and_evaluated_per_method_arn(app: LocalApp) -> None:
    authorizer = module(app, "AuthorizerFunction")
    calls = len(authorizer.CALLS)
    headers = {"Authorization": "Bearer narrow"}
    assert requests.get(f"{app.url}/wallets", headers=headers, timeout=10).status_code == 200
    assert requests.get(f"{app.url}/wallets", headers=headers, timeout=10).status_code == 200
    # the cached policy allows only GET /wallets, so another path is refused, as in AWS
    other = requests.get(f"{app.url}/segments", headers=headers, timeout=10)
    assert other.status_code == 403
    assert other.json() == {"message": "User is not authorized to access this resource"}
    assert len(authorizer.CALLS) == calls + 1


def test_handler_errors_and_binary_bodies(app: LocalApp) -> None:
    headers = {"Authorization": "Bearer allow"}
    boom = requests.get(f"{app.url}/boom", headers=headers, timeout=10)
    assert boom.status_code == 502 and boom.json() == {"message": "Internal server error"}
    binary = requests.get(f"{app.url}/binary", headers=headers, timeout=10)
    assert binary.content == b"\x00\x01\x02"
    cookies = requests.get(f"{app.url}/wallets", headers=headers, timeout=10).raw.headers.getlist("Set-Cookie")
    assert cookies == ["a=1", "b=2"]


def test_the_root_path_is_not_a_route(app: LocalApp) -> None:
    response = requests.get(f"{app.url}/", headers={"Authorization": "Bearer allow"}, timeout=10)
    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


def test_a_port_in_use_is_a_clear_error(app: LocalApp) -> None:
    assert app.gateway is not None and app.host is not None
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(GatewayError, match=f"port {port} is already in use.*KITH_API_PORT"):
            Gateway(app.gateway.api, app.host, port).start()


def test_policy_evaluation() -> None:
    arn = "arn:aws:execute-api:us-east-1:123456789012:abc/v1/GET/wallets/0x1"
    allow_all = {
        "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*"}]
    }
    assert evaluate_policy(allow_all, arn) == "Allow"
    mixed = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["execute-api:*"],
                "Resource": ["arn:aws:execute-api:us-east-1:*:abc/*/GET/*"],
            },
            {
                "Effect": "Deny",
                "Action": "execute-api:Invoke",
                "Resource": "arn:aws:execute-api:us-east-1:*:abc/*/*/keys*",
            },
        ]
    }
    assert evaluate_policy(mixed, arn) == "Allow"
    assert evaluate_policy(mixed, arn.replace("wallets/0x1", "keys")) == "Deny"
    assert evaluate_policy(mixed, arn.replace("/GET/", "/POST/")) is None
