"""Every operation of the API's OpenAPI document, fuzzed over HTTP through the gateway with an admin key.

schemathesis generates valid and invalid requests from the document itself, so a route added later is
fuzzed with no change here. Whatever it sends, the API must not fail (5xx) and must answer with a
documented status, content type and body shape. Examples are bounded (KITH_FUZZ_EXAMPLES per operation
and mode), derandomized and not shrunk, so the run is short and a failure replays the same way anywhere.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from infra.localcloud.main import LocalCloud
from shared.api.app import build_app
from shared.api.openapi import openapi_schema
from shared.api.schemas import ErrorBody

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("KITH_FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# The document the API serves (GET /openapi.json builds it the same way), read at collection time so
# each operation is a test of its own. schemathesis' coverage phase is off: it enumerates boundary cases
# without bound (tens of thousands for the recursive segment rules); its one probe that found a bug, a
# body that is not JSON, is the separate test at the end.
SCHEMA = schemathesis.openapi.from_dict(
    openapi_schema(build_app()),
    config=schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}}),
)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
WITH_BODY = [op for op in OPERATIONS if op.definition.raw.get("requestBody")]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # no shrinking: it can replay a failing operation for minutes; the report carries a curl to reproduce
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@pytest.fixture(scope="package")
def admin(fuzz_cloud: LocalCloud) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {fuzz_cloud.admin_key}"
    return session


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_every_operation_answers_within_its_documented_contract(
    operation: Any, mode: GenerationMode, fuzz_cloud: LocalCloud, admin: requests.Session
) -> None:
    # Given requests generated from one operation's definition: valid ones, or deliberately invalid ones
    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def sent_with_an_admin_key(case: schemathesis.Case) -> None:
        # When each is sent with an admin key, so the scope check never masks the route's own behaviour
        # Then the answer is no 5xx, and its status, content type and body are the documented ones
        case.call_and_validate(
            base_url=fuzz_cloud.url,
            session=admin,
            headers={"Authorization": f"Bearer {fuzz_cloud.admin_key}"},
            checks=CHECKS,
            timeout=60,
        )

    sent_with_an_admin_key()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("text/plain", b"name=kith"), ("application/json", b'\xff\xfe{"name": 1}')],
    ids=["form text", "json that is not utf-8"],
)
@pytest.mark.parametrize("operation", WITH_BODY, ids=lambda op: op.label)
def test_a_body_that_is_not_json_is_a_client_error(
    operation: Any, content_type: str, body: bytes, fuzz_cloud: LocalCloud, admin: requests.Session
) -> None:
    # Given an operation that takes a JSON body, and a body that is not JSON (or not even UTF-8)
    path = operation.path.replace("{", "").replace("}", "")
    # When it is sent
    response = admin.request(
        operation.method.upper(),
        f"{fuzz_cloud.url}{path}",
        data=body,
        headers={"Content-Type": content_type},
        timeout=60,
    )
    # Then the API refuses it as the client's mistake, in its error shape, with a documented status
    assert 400 <= response.status_code < 500, f"{operation.label}: {response.status_code} {response.text}"
    ErrorBody.model_validate(response.json())
    assert str(response.status_code) in operation.definition.raw["responses"], response.status_code
