"""Every operation of the served OpenAPI document, fuzzed over HTTP through the gateway with an admin key.

schemathesis generates valid and invalid requests from the document itself, so a route added later is
fuzzed with no change here. Whatever it sends, the API must not fail (5xx) and must answer with a
documented status, content type and body shape. Examples are bounded (KITH_FUZZ_EXAMPLES per operation)
and derandomized, so the run is short and a failure replays the same way on every machine.
"""

from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from infra.localcloud.main import LocalCloud
from shared.api.app import build_app
from shared.api.openapi import openapi_schema

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("KITH_FUZZ_EXAMPLES", "15"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="package")
def fuzz_session(fuzz_cloud: LocalCloud) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {fuzz_cloud.admin_key}"
    return session


# The document the API serves, built the same way in process: one test per operation at collection
# time (schemathesis' fixture-loaded schemas rely on pytest internals that pytest 9 removed).
schema = schemathesis.openapi.from_dict(openapi_schema(build_app()))


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_every_operation_answers_within_its_documented_contract(
    case: schemathesis.Case, fuzz_cloud: LocalCloud, fuzz_session: requests.Session
) -> None:
    # Given a generated request (valid or deliberately invalid) for one documented operation
    # When it is sent with an admin key, so the scope check never masks the route's own behaviour
    # Then the answer is no 5xx, and its status, content type and body are the documented ones
    case.call_and_validate(
        base_url=fuzz_cloud.url,
        session=fuzz_session,
        headers={"Authorization": f"Bearer {fuzz_cloud.admin_key}"},
        checks=CHECKS,
        timeout=60,
    )
