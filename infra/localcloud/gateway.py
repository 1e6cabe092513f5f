"""API Gateway (REST, Lambda proxy integration) in front of the in-process handlers.

moto cannot serve the RestApi (it ignores the swagger Body), so this gateway reads the translated
RestApi's swagger: its routes, their Lambda integrations and the Lambda authorizers in
securityDefinitions. It then behaves as API Gateway does: a missing identity source is 401 without
invoking the authorizer, the authorizer's IAM policy is evaluated against the method ARN (and cached
per identity for the authorizer's TTL, with the same proxy-resource pitfall as AWS), and each request
reaches the function as a v1 proxy event.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from infra.localcloud.api_specs import ApiSpec, AuthorizerSpec, GatewayError, RouteSpec, discover_apis
from infra.localcloud.functions import ACCOUNT_ID, FunctionError, FunctionHost, FunctionTimeout
from infra.localcloud.gateway_replies import (
    CachedPolicy,
    Reply,
    error_reply,
    evaluate_policy,
    gateway_reply,
    header_value,
    proxy_reply,
    stringify_context,
)

__all__ = ["Gateway", "GatewayError", "discover_apis", "evaluate_policy"]

log = logging.getLogger("kith.localcloud.gateway")


class Gateway:
    """One RestApi served on 127.0.0.1:`port`. Paths work with or without the /<stage> prefix."""

    def __init__(
        self,
        api: ApiSpec,
        host: FunctionHost,
        port: int,
        bind: str = "127.0.0.1",
        port_variable: str = "KITH_API_PORT",
        region: str = "us-east-1",
    ) -> None:
        self.api = api
        self.host = host
        self.port = port
        self.bind = bind
        self.port_variable = port_variable
        self.region = region
        self.authorizer_calls = 0
        self._cache: dict[tuple[str, tuple[str, ...]], CachedPolicy] = {}
        self._cache_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.bind}:{self.port}"

    def start(self) -> Gateway:
        gateway = self

        class Handler(_RequestHandler):
            owner = gateway

        try:
            server = ThreadingHTTPServer((self.bind, self.port), Handler)
        except OSError as exc:
            raise GatewayError(
                f"port {self.port} is already in use ({exc.strerror}): stop what holds it, or set "
                f"{self.port_variable} (or --port) to another port"
            ) from None
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling

    def _route(self, method: str, path: str) -> tuple[RouteSpec, dict[str, str]] | None:
        for route in self.api.routes:
            match = route.pattern.match(path)
            if match and route.method in ("ANY", method):
                return route, {k: unquote(v) for k, v in match.groupdict().items()}
        return None

    def handle(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, client_ip: str) -> Reply:
        started = time.monotonic()
        split = urlsplit(raw_path)
        path = split.path or "/"
        stage_prefix = f"/{self.api.stage}"
        if path == stage_prefix or path.startswith(stage_prefix + "/"):
            path = path[len(stage_prefix) :] or "/"
        found = self._route(method, path)
        if found is None:
            # what API Gateway answers for a path or method the API does not define
            return gateway_reply(self.api, 403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        route, path_parameters = found
        request_id = str(uuid.uuid4())
        single_headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in headers:
            single_headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        query = {k: v for k, v in pairs} or None
        multi_query: dict[str, list[str]] = {}
        for k, v in pairs:
            multi_query.setdefault(k, []).append(v)
        now = dt.datetime.now(dt.UTC)
        request_context: dict[str, Any] = {
            "resourceId": re.sub(r"[^a-z0-9]", "", route.resource.lower())[:6] or "root",
            "resourcePath": route.resource,
            "httpMethod": method,
            "extendedRequestId": base64.b64encode(uuid.uuid4().bytes[:12]).decode(),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{self.api.stage}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": self.api.stage,
            "domainPrefix": self.api.api_id,
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": client_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": header_value(headers, "User-Agent"),
                "user": None,
            },
            "domainName": f"{self.api.api_id}.execute-api.{self.region}.amazonaws.com",
            "apiId": self.api.api_id,
        }
        proxy_path = path_parameters or None
        method_arn = (
            f"arn:aws:execute-api:{self.region}:{ACCOUNT_ID}:{self.api.api_id}/{self.api.stage}/{method}/"
            f"{path.lstrip('/')}"
        )
        if route.authorizer is not None:
            outcome = self._authorize(
                route,
                route.authorizer,
                method_arn,
                {
                    "type": "REQUEST",
                    "methodArn": method_arn,
                    "resource": route.resource,
                    "path": path,
                    "httpMethod": method,
                    "headers": single_headers,
                    "multiValueHeaders": multi_headers,
                    "queryStringParameters": query or {},
                    "multiValueQueryStringParameters": multi_query,
                    "pathParameters": path_parameters,
                    "stageVariables": dict(self.api.stage_variables),
                    "requestContext": request_context,
                },
                headers,
                query or {},
            )
            if isinstance(outcome, Reply):
                return outcome
            request_context["authorizer"] = outcome
        text: str | None
        try:
            text = body.decode("utf-8") if body else None
            is_base64 = False
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode(), True
        event = {
            "resource": route.resource,
            "path": path,
            "httpMethod": method,
            "headers": single_headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": proxy_path,
            "stageVariables": dict(self.api.stage_variables) or None,
            "requestContext": request_context,
            "body": text,
            "isBase64Encoded": is_base64,
        }
        try:
            response = self.host.invoke(route.function, event)
        except FunctionTimeout:
            return gateway_reply(self.api, 504, "Endpoint request timed out", "IntegrationTimeout")
        except FunctionError:
            return gateway_reply(self.api, 502, "Internal server error", "InternalServerErrorException")
        reply = proxy_reply(response)
        if reply is None:
            log.warning("%s returned a malformed proxy response: %r", route.function, response)
            return gateway_reply(self.api, 502, "Internal server error", "InternalServerErrorException")
        reply.headers += [
            ("x-amzn-RequestId", request_id),
            ("x-amz-apigw-id", request_context["extendedRequestId"]),
        ]
        log.debug("%s %s -> %d in %.0f ms", method, path, reply.status, (time.monotonic() - started) * 1000)
        return reply

    def _authorize(
        self,
        route: RouteSpec,
        authorizer: AuthorizerSpec,
        method_arn: str,
        request_event: dict[str, Any],
        headers: list[tuple[str, str]],
        query: Mapping[str, str],
    ) -> dict[str, Any] | Reply:
        identity: list[str] = []
        for name in authorizer.identity_headers:
            value = header_value(headers, name)
            if not value:
                return gateway_reply(self.api, 401, "Unauthorized", "UnauthorizedException")
            identity.append(value)
        for name in authorizer.identity_query:
            if not query.get(name):
                return gateway_reply(self.api, 401, "Unauthorized", "UnauthorizedException")
            identity.append(query[name])
        key = (authorizer.name, tuple(identity))
        cached: CachedPolicy | None = None
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is not None and entry.expires > time.monotonic():
                cached = entry
        started = time.monotonic()
        if cached is None:
            if authorizer.kind == "token":
                event: dict[str, Any] = {
                    "type": "TOKEN",
                    "authorizationToken": identity[0] if identity else "",
                    "methodArn": method_arn,
                }
            else:
                event = request_event
            self.authorizer_calls += 1
            try:
                result = self.host.invoke(authorizer.function, event)
            except FunctionError as exc:
                if str(exc.cause) == "Unauthorized":
                    return gateway_reply(self.api, 401, "Unauthorized", "UnauthorizedException")
                return gateway_reply(self.api, 500, None, "AuthorizerConfigurationException")
            if (
                not isinstance(result, dict)
                or not isinstance(result.get("policyDocument"), dict)
                or "principalId" not in result
            ):
                log.warning("authorizer %s returned no principalId/policyDocument: %r", authorizer.name, result)
                return gateway_reply(self.api, 500, None, "AuthorizerConfigurationException")
            context = result.get("context") or {}
            if not isinstance(context, dict) or any(isinstance(v, dict | list) for v in context.values()):
                # API Gateway accepts only string, number and boolean context values
                return gateway_reply(self.api, 500, None, "AuthorizerConfigurationException")
            cached = CachedPolicy(
                policy=result["policyDocument"],
                principal=str(result["principalId"]),
                context=dict(context),
                expires=time.monotonic() + authorizer.ttl,
            )
            if authorizer.ttl > 0:
                with self._cache_lock:
                    self._cache[key] = cached
        # a cached policy is evaluated against this request's method ARN, exactly as API Gateway does
        decision = evaluate_policy(cached.policy, method_arn)
        if decision == "Deny":
            return gateway_reply(
                self.api,
                403,
                "User is not authorized to access this resource with an explicit deny",
                "AccessDeniedException",
            )
        if decision is None:
            return gateway_reply(
                self.api, 403, "User is not authorized to access this resource", "AccessDeniedException"
            )
        return {
            **stringify_context(cached.context),
            "principalId": cached.principal,
            "integrationLatency": int((time.monotonic() - started) * 1000),
        }


class _RequestHandler(BaseHTTPRequestHandler):
    owner: Gateway
    protocol_version = "HTTP/1.1"
    server_version = "kith-local-apigateway"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = list(self.headers.items())
        client_ip = str(self.client_address[0])
        if not any(k.lower() == "x-forwarded-for" for k, _ in headers):
            headers += [
                ("X-Forwarded-For", client_ip),
                ("X-Forwarded-Port", str(self.owner.port)),
                ("X-Forwarded-Proto", "http"),
            ]
        try:
            reply = self.owner.handle(self.command, self.path, headers, body, client_ip)
        except Exception:
            log.exception("gateway failed on %s %s", self.command, self.path)
            reply = error_reply(500, "Internal server error", "InternalServerErrorException")
        self.send_response(reply.status)
        for name, value in reply.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)
