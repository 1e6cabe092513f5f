"""Who may call what, for every operation of the served OpenAPI document (so new routes are covered).

Every operation is 401 without a key and with a malformed or unknown one, 403 with a key below the
scope it needs (shared.auth.required_scope: read < write < admin), and neither with a key that has
exactly that scope. Every refusal has the ErrorBody shape. The document and the Swagger page are public
(a browser opens them), and only they.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from infra.localcloud.main import LocalCloud
from shared.api.schemas import ErrorBody
from shared.auth import Scope, required_scope

pytestmark = pytest.mark.e2e

SCOPES = [Scope.READ, Scope.WRITE, Scope.ADMIN]
METHODS = ("get", "put", "post", "delete", "patch")
BAD_KEYS = {
    "no key": None,
    "not a bearer token": "Basic a2l0aDpraXRo",
    "malformed key": "Bearer not-a-kith-key",
    "unknown key": "Bearer kith_000000000000_" + "x" * 43,
}
# Path parameters get a value no resource has: a refusal must not depend on what exists
PLACEHOLDER = "0" * 12


def _operations(cloud: LocalCloud) -> list[tuple[str, str]]:
    served = requests.get(
        f"{cloud.url}/openapi.json", headers={"Authorization": f"Bearer {cloud.admin_key}"}, timeout=30
    )
    assert served.status_code == 200, served.text
    paths: dict[str, dict[str, Any]] = served.json()["paths"]
    found = [(method.upper(), path) for path, item in paths.items() for method in item if method in METHODS]
    assert found, "the document lists no operation"
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", PLACEHOLDER, path)


def _call(cloud: LocalCloud, method: str, path: str, authorization: str | None) -> requests.Response:
    headers = {"Authorization": authorization} if authorization else {}
    # no body: a caller that gets past the scope check stops at validation, so nothing is written
    return requests.request(method, f"{cloud.url}{_concrete(path)}", headers=headers, timeout=30)


def _assert_error(response: requests.Response, status: int, code: str, what: str) -> None:
    assert response.status_code == status, f"{what}: {response.status_code} {response.text}"
    assert response.headers["Content-Type"].startswith("application/json"), what
    body = ErrorBody.model_validate(response.json())
    assert body.error == code, what
    assert body.message, what


@pytest.fixture(scope="module")
def scoped_keys(cloud: LocalCloud) -> dict[Scope, str]:
    made: dict[Scope, str] = {}
    for scope in [*SCOPES, Scope.PII]:
        # a pii key is a read key that may see personal data
        scopes = [scope.value] if scope in SCOPES else [Scope.READ.value, scope.value]
        created = requests.post(
            f"{cloud.url}/keys",
            json={"name": f"auth matrix {scope}", "scopes": scopes},
            headers={"Authorization": f"Bearer {cloud.admin_key}"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        made[scope] = created.json()["secret"]
    return made


def test_every_operation_refuses_a_missing_malformed_or_unknown_key_with_401(cloud: LocalCloud) -> None:
    # Given every operation the API documents
    operations = _operations(cloud)
    for method, path in operations:
        for kind, authorization in BAD_KEYS.items():
            # When it is called without a valid key
            response = _call(cloud, method, path, authorization)
            # Then the gateway answers 401 in the API's error shape
            _assert_error(response, 401, "unauthorized", f"{method} {path} with {kind}")


def test_every_operation_refuses_a_key_below_its_scope_with_403(
    cloud: LocalCloud, scoped_keys: dict[Scope, str]
) -> None:
    # Given every operation, and the scope each one needs
    refusals = 0
    for method, path in _operations(cloud):
        needed = required_scope(method, _concrete(path))
        # pii routes refuse read and write keys that lack pii
        for scope in SCOPES[: SCOPES.index(needed)] if needed in SCOPES else [Scope.READ, Scope.WRITE]:
            # When a key with a lower scope calls it
            response = _call(cloud, method, path, f"Bearer {scoped_keys[scope]}")
            # Then it is refused with 403 in the API's error shape
            _assert_error(response, 403, "forbidden", f"{method} {path} with a {scope} key (needs {needed})")
            refusals += 1
    assert refusals, "no operation needs more than the read scope: the matrix tested nothing"


def test_a_key_with_exactly_the_needed_scope_gets_past_the_gateway(
    cloud: LocalCloud, scoped_keys: dict[Scope, str]
) -> None:
    # Given every operation, and a key with exactly the scope it needs
    for method, path in _operations(cloud):
        needed = required_scope(method, _concrete(path))
        # When that key calls it (no body, unknown ids)
        response = _call(cloud, method, path, f"Bearer {scoped_keys[needed]}")
        # Then the route itself answers: neither the authorizer nor the scope check refuses it
        assert response.status_code not in (401, 403), f"{method} {path} with a {needed} key: {response.text}"
        assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text}"


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
def test_the_document_and_its_page_open_without_a_key(
    cloud: LocalCloud, scoped_keys: dict[Scope, str], path: str
) -> None:
    # Given the OpenAPI document and the Swagger page, public so a browser opens them (template.yaml routes
    # them without the authorizer; shared.api.app.PUBLIC_PATHS)
    # When they are fetched without a key, then with the lowest scope
    anonymous = requests.get(f"{cloud.url}{path}", timeout=30)
    reader = requests.get(
        f"{cloud.url}{path}", headers={"Authorization": f"Bearer {scoped_keys[Scope.READ]}"}, timeout=30
    )
    # Then both are served; no operation of the document is public
    assert anonymous.status_code == 200, anonymous.text
    assert reader.status_code == 200, reader.text
    if path == "/openapi.json":
        assert all(op.get("security", True) != [] for ops in anonymous.json()["paths"].values() for op in ops.values())
