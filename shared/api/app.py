"""The API application: one APIGatewayRestResolver, one router per resource, errors mapped in one place."""

from __future__ import annotations

import importlib
import json
import threading
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from shared import auth
from shared.api import limits
from shared.api.caller import caller_from_event, reset_caller, set_caller
from shared.api.docs import openapi_json, swagger_html
from shared.api.errors import ApiError, Forbidden, NotFound, Unauthorized
from shared.segments.rules import error_path
from shared.settings import get_settings

# served without an API key: template.yaml gives these two GET routes `Authorizer: NONE`
PUBLIC_PATHS = frozenset({"/docs", "/openapi.json"})

logger = Logger(child=True)


def _json(status: int, body: dict[str, Any]) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


# One router per resource, each in shared.api.routes.<name> and serving /<name>... (or a path in ROUTER_OF_PATH);
# tests/unit/test_api_routers.py checks every route against it.
ROUTERS = (
    "wallets",
    "keys",
    "backfill",
    "chains",
    "segments",
    "contacts",
    "campaigns",
    "churn",
    "audit",
    "airdrops",
    "collections",
)
# the few top-level paths a router serves beside its own name
ROUTER_OF_PATH = {"overlap": "segments"}


class Routers:
    """Includes each resource's router into the app the first time it is needed.

    The API function includes a router when the first request for its resource arrives, so a cold start
    imports one resource's code (and its domain modules), not all nine; the document needs them all."""

    def __init__(self, app: APIGatewayRestResolver) -> None:
        self.app = app
        self.included: set[str] = set()
        # Lambda runs one request at a time per process; the local cloud runs several side by side
        self._lock = threading.Lock()

    def include(self, name: str) -> None:
        if name not in ROUTERS or name in self.included:
            return
        with self._lock:
            if name not in self.included:
                module = importlib.import_module(f"shared.api.routes.{name}")
                self.app.include_router(module.router)
                self.included.add(name)

    def include_all(self) -> None:
        for name in ROUTERS:
            self.include(name)

    def include_for(self, path: str | None) -> None:
        """The router that serves `path` (an event's path, e.g. /wallets/0x...), if there is one."""
        first = str(path or "").strip("/").split("/", 1)[0]
        self.include(ROUTER_OF_PATH.get(first, first))


def build_app(lazy: bool = False) -> APIGatewayRestResolver:
    """The application with every router, or (lazy) each included when first needed (`routers_of`)."""
    app = APIGatewayRestResolver(enable_validation=True)
    routers = Routers(app)
    app.kith_routers = routers  # type: ignore[attr-defined]
    if not lazy:
        routers.include_all()

    # Both serve the document with its error responses (shared.api.docs)
    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> Response[Any]:
        routers.include_all()
        body = swagger_html(app, served_from(app.current_event.raw_event))
        return Response(status_code=200, content_type=content_types.TEXT_HTML, body=body)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document() -> Response[Any]:
        routers.include_all()
        body = openapi_json(app, served_from(app.current_event.raw_event))
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)

    app.use(middlewares=[_guard_request])

    @app.exception_handler(ApiError)
    def domain_error(error: ApiError) -> Response[Any]:
        return _json(error.status, error.body())

    @app.exception_handler(limits.Throttled)
    def throttled(error: limits.Throttled) -> Response[Any]:
        message = (
            f"this key spent its {error.limit} request units for this minute (expensive routes cost more); "
            f"retry after {error.retry_after_s} s"
        )
        response = _json(429, {"error": "rate_limited", "field": "Authorization", "message": message})
        response.headers["Retry-After"] = str(error.retry_after_s)
        return response

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


def routers_of(app: APIGatewayRestResolver) -> Routers:
    """The router set of an app made by build_app (the lazy handler includes the one a request needs)."""
    routers: Routers = app.kith_routers  # type: ignore[attr-defined]
    return routers


def served_from(event: dict[str, Any]) -> str:
    """The URL prefix the caller reached the API under: the stage on execute-api (/v1), a custom domain's
    base path, or "/" (requestContext.path is the path as sent; `path` is the route's own)."""
    sent = str((event.get("requestContext") or {}).get("path") or "")
    route = str(event.get("path") or "")
    prefix = sent[: -len(route)] if route and sent.endswith(route) else ""
    return prefix.rstrip("/") or "/"


def _guard_request(app: APIGatewayRestResolver, next_middleware: Any) -> Response[Any]:
    """Every request: the scope (defence in depth: the authorizer's policy enforces it at the gateway), the
    key's revocation (the authorizer's answer is cached for a minute, this check is not), and its throttle.
    The API's own description is public (template.yaml routes it without the authorizer), so a browser opens it."""
    event = app.current_event
    if event.http_method == "GET" and event.path in PUBLIC_PATHS:
        result: Response[Any] = next_middleware(app)
        return result
    caller = caller_from_event(event.raw_event)
    needed = auth.required_scope(event.http_method, event.path)
    if not caller.may(needed):
        raise Forbidden(f"this key lacks the `{needed}` scope; ask an admin for a key that has it", "Authorization")
    if caller.key_hash is not None and not auth.still_active(caller.key_id, caller.key_hash):
        raise Unauthorized("this API key was revoked; use another key", "Authorization")
    limits.charge(caller.key_id or "unidentified", limits.route_cost(event.http_method, event.path), get_settings())
    token = set_caller(caller)
    try:
        result = next_middleware(app)
    finally:
        reset_caller(token)
    return result


def access_record(event: dict[str, Any], response: dict[str, Any], duration_s: float) -> dict[str, Any]:
    """One access-log line per request: who, what, the answer and how long it took (no query string, no body)."""
    caller = caller_from_event(event)
    return {
        "key_id": caller.key_id,
        "method": event.get("httpMethod"),
        "path": event.get("path"),
        "status": response.get("statusCode"),
        "duration_ms": round(duration_s * 1000, 1),
        "request_id": caller.request_id,
    }
