"""The API application: one APIGatewayRestResolver, one router per resource, errors mapped in one place."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from shared import auth
from shared.api.errors import ApiError, Forbidden, NotFound
from shared.api.routes import backfill as backfill_routes
from shared.api.routes import campaigns as campaigns_routes
from shared.api.routes import churn as churn_routes
from shared.api.routes import contacts as contacts_routes
from shared.api.routes import keys as keys_routes
from shared.api.routes import segments as segments_routes
from shared.api.routes import wallets as wallets_routes
from shared.segments.rules import error_path

TITLE = "Kith API"
VERSION = "0.1.0"
DESCRIPTION = (
    "Know your on-chain community: wallets ranked by engagement, profiles with explained scores, "
    "labels and churn states. Every route needs `Authorization: Bearer <key>`; a key's scopes "
    "(read < write < admin) decide which methods it may call."
)
OPENAPI_META: dict[str, Any] = {
    "title": TITLE,
    "version": VERSION,
    "description": DESCRIPTION,
    "security_schemes": {"bearer": HTTPBearer(description="a Kith API key: kith_<id>_<secret>")},
    "security": [{"bearer": []}],
}

logger = Logger(child=True)


def _json(status: int, body: dict[str, Any]) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def build_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    app.include_router(wallets_routes.router)
    app.include_router(keys_routes.router)
    app.include_router(backfill_routes.router)
    app.include_router(segments_routes.router)
    app.include_router(contacts_routes.router)
    app.include_router(campaigns_routes.router)
    app.include_router(churn_routes.router)

    # Both serve the document with its error responses; imported here because that module imports this one
    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> Response[Any]:
        from shared.api.openapi import swagger_html

        return Response(status_code=200, content_type=content_types.TEXT_HTML, body=swagger_html(app))

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document() -> Response[Any]:
        from shared.api.openapi import openapi_json

        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_json(app))

    app.use(middlewares=[_require_scope])

    @app.exception_handler(ApiError)
    def domain_error(error: ApiError) -> Response[Any]:
        return _json(error.status, error.body())

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response[Any]:
        first = error.errors()[0]
        location = tuple(first.get("loc", ()))
        # ("body", "rule", "match", "all", "of", 0, ...) -> "rule.match.of[0]...", as the client wrote it
        within = location[1:] if location and location[0] in ("body", "query", "path", "header") else location
        field = error_path(within) if within else None
        return _json(422, {"error": "validation_failed", "field": field, "message": first.get("msg", "invalid")})

    # Both are raised while Powertools reads the body, before any route runs: the client's fault, not a 500
    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_body(_: RequestUnsupportedContentType) -> Response[Any]:
        message = "the body must be JSON: send it with Content-Type: application/json"
        return _json(415, {"error": "unsupported_media_type", "field": "body", "message": message})

    @app.exception_handler(UnicodeDecodeError)
    def undecodable_body(_: UnicodeDecodeError) -> Response[Any]:
        message = "the body is not UTF-8 text: send JSON encoded as UTF-8"
        return _json(400, {"error": "bad_request", "field": "body", "message": message})

    @app.not_found
    def route_not_found(_: Exception) -> Response[Any]:
        return _json(404, NotFound(f"no route {app.current_event.http_method} {app.current_event.path}").body())

    @app.exception_handler(Exception)
    def internal_error(error: Exception) -> Response[Any]:
        logger.exception("unhandled error")
        request_id = app.current_event.request_context.request_id
        return _json(
            500,
            {"error": "internal", "field": None, "message": f"internal error; quote request id {request_id}"},
        )

    return app


def _require_scope(app: APIGatewayRestResolver, next_middleware: Any) -> Response[Any]:
    """Defence in depth: the authorizer's policy already enforces scopes at the gateway."""
    context: dict[str, Any] = app.current_event.raw_event.get("requestContext", {}).get("authorizer") or {}
    granted = [auth.Scope(s) for s in str(context.get("scopes", "")).split(",") if s in auth.Scope.__members__.values()]
    needed = auth.required_scope(app.current_event.http_method, app.current_event.path)
    if not auth.scope_allows(granted, needed):
        raise Forbidden(f"this key lacks the `{needed}` scope; ask an admin for a key that has it", "Authorization")
    result: Response[Any] = next_middleware(app)
    return result
