"""The API's OpenAPI document: generated from the pydantic models, then completed with the error responses.

Powertools documents each route's success response and a 422 of its own shape (HTTPValidationError),
but every 4xx/5xx body this API (and its gateway) sends is an ErrorBody. `with_error_responses` fixes
that in one pass over the whole document, deriving each operation's error statuses from its shape, so a
new route is documented without any per-route work. A route that can answer a status its shape does not
imply (say 404 for an id named in a query or the body) declares it on its decorator:
`openapi_extensions={"x-kith-errors": [404]}`.
The same function feeds the committed infra/openapi.json, GET /openapi.json and the /docs page.
`python -m shared.api.openapi [--check]` writes (or checks) the committed copy.
"""

from __future__ import annotations

import copy
import json
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi import swagger_ui
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from shared.api.schemas import ErrorBody

COMPONENTS = "#/components/schemas/"
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
EXTRA_ERRORS = "x-kith-errors"
OPERATION_KEYS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# Powertools' own error models; once every error response says ErrorBody nothing refers to them
POWERTOOLS_ERROR_MODELS = ("HTTPValidationError", "ResponseValidationError", "ValidationError")

TITLE = "Kith API"
VERSION = "0.1.0"
DESCRIPTION = (
    "Know your on-chain community: wallets ranked by engagement, profiles with explained scores, "
    "labels and churn states. Every route needs `Authorization: Bearer <key>`; a key's scopes "
    "(read < write < admin) decide which methods it may call; without the `pii` scope, emails, handles, "
    "names and secret-bearing URLs come back masked. Each key has a per-minute budget of request units "
    "(429 with Retry-After beyond it)."
)


def openapi_meta() -> dict[str, Any]:
    """The document's title, description and security scheme."""
    return {
        "title": TITLE,
        "version": VERSION,
        "description": DESCRIPTION,
        "security_schemes": {"bearer": HTTPBearer(description="a Kith API key: kith_<id>_<secret>")},
        "security": [{"bearer": []}],
    }


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "the request is malformed, e.g. a `cursor` this API did not issue; `field` names the culprit",
    401: "no API key, or a malformed, unknown or revoked one: send `Authorization: Bearer <key>`",
    403: "the key lacks the scope this route needs (read < write < admin)",
    404: "something the request names does not exist (an unknown id or address)",
    409: "the write conflicts with the current state (e.g. a stale `expected_version`); re-read and retry",
    415: "the body is not JSON: send it as `Content-Type: application/json`",
    422: "a parameter or the body failed validation; `field` names it",
    429: "this key spent its request units for the minute; retry after the Retry-After header's seconds",
    500: "an unexpected failure; the message carries the request id to quote",
}


def error_statuses(method: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses an operation can answer with: derived from its shape, plus what it declares."""
    parameters = operation.get("parameters", [])
    # the authorizer, the scope check, request validation, the key's throttle, the last resort
    statuses = {401, 403, 422, 429, 500}
    statuses |= {int(status) for status in operation.get(EXTRA_ERRORS, [])}
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if operation.get("requestBody"):
        statuses |= {400, 415}
    if any(p.get("in") == "query" and p.get("name") == "cursor" for p in parameters):
        statuses.add(400)
    if method.lower() in WRITE_METHODS:
        statuses.add(409)
    return sorted(statuses)


def with_error_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` in which every operation documents its error responses with the ErrorBody model."""
    document = copy.deepcopy(schema)
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorBody"] = ErrorBody.model_json_schema(ref_template=COMPONENTS + "{model}")
    error_content = {"application/json": {"schema": {"$ref": f"{COMPONENTS}ErrorBody"}}}
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in OPERATION_KEYS:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            statuses = error_statuses(method, operation)
            operation.pop(EXTRA_ERRORS, None)
            for status in statuses:
                responses[str(status)] = {
                    "description": ERROR_DESCRIPTIONS.get(status) or HTTPStatus(status).phrase,
                    "content": copy.deepcopy(error_content),
                }
    for name in POWERTOOLS_ERROR_MODELS:  # in that order: the first two are what refer to the third
        if f'"{COMPONENTS}{name}"' not in json.dumps(document):
            schemas.pop(name, None)
    return document


def openapi_schema(app: APIGatewayRestResolver, server: str = "/") -> dict[str, Any]:
    """The complete document of `app`, as served and committed.

    `server` is where the API answers: served from AWS it is the stage's prefix (/v1), so Swagger UI's
    "Try it out" keeps the stage in the URL; the committed document says "/".
    """
    document = with_error_responses(json.loads(app.get_openapi_json_schema(**openapi_meta())))
    document["servers"] = [{"url": server}]
    return document


def openapi_json(app: APIGatewayRestResolver, server: str = "/") -> str:
    return json.dumps(openapi_schema(app, server), indent=2, sort_keys=True) + "\n"


def swagger_html(app: APIGatewayRestResolver, server: str = "/") -> str:
    """Swagger UI over the complete document, with Powertools' bundled assets (no CDN needed)."""
    assets = Path(swagger_ui.__file__).parent
    spec = openapi_json(app, server).replace("</", "<\\/")  # the spec sits inside a <script>; keep it from closing it
    return swagger_ui.generate_swagger_html(
        spec,
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
    )
