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
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from infra.localcloud.functions import ACCOUNT_ID, FunctionError, FunctionHost, FunctionTimeout, Resolver, api_id
from infra.localcloud.template import Template

log = logging.getLogger("kith.localcloud.gateway")

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_ANY = "x-amazon-apigateway-any-method"


class GatewayError(RuntimeError):
    """The gateway cannot start; the message says why and what to change."""


@dataclass(frozen=True)
class AuthorizerSpec:
    name: str
    function: str
    kind: str  # "request" or "token"
    identity_headers: tuple[str, ...] = ()
    identity_query: tuple[str, ...] = ()
    ttl: int = 300


@dataclass(frozen=True)
class RouteSpec:
    resource: str  # "/{proxy+}"
    method: str  # "ANY" or an HTTP method
    function: str
    authorizer: AuthorizerSpec | None

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = ""
        for part in self.resource.strip("/").split("/"):
            if not part:
                continue
            greedy = re.fullmatch(r"\{(\w+)\+\}", part)
            single = re.fullmatch(r"\{(\w+)\}", part)
            if greedy:
                regex += f"/(?P<{greedy.group(1)}>.+)"
            elif single:
                regex += f"/(?P<{single.group(1)}>[^/]+)"
            else:
                regex += "/" + re.escape(part)
        return re.compile("^" + (regex or "/") + "$")

    @property
    def specificity(self) -> tuple[int, int]:
        parts = self.resource.strip("/").split("/")
        return (sum("+}" in p for p in parts), -sum(not p.startswith("{") for p in parts))


@dataclass
class ApiSpec:
    logical_id: str
    api_id: str
    stage: str
    stage_variables: dict[str, str] = field(default_factory=dict)
    routes: list[RouteSpec] = field(default_factory=list)
    # x-amazon-apigateway-gateway-responses: the template's own bodies for 401, 403, 5xx...
    gateway_responses: dict[str, Any] = field(default_factory=dict)


def _function_in_uri(resolver: Resolver, uri: Any) -> str:
    """The function logical id inside an integration or authorizer URI (a Fn::Sub over its Arn)."""
    if isinstance(uri, dict) and "Fn::Sub" in uri:
        arg = uri["Fn::Sub"]
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        for name, value in variables.items():
            if f"${{{name}}}" in text and isinstance(value, dict) and "Fn::GetAtt" in value:
                target = value["Fn::GetAtt"]
                return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
        match = re.search(r"\$\{(\w+)\.Arn\}", str(text))
        if match:
            return match.group(1)
    resolved = str(resolver.resolve(uri))
    match = re.search(r"function:([^/:]+)", resolved)
    if match:
        for logical, resource in resolver.resources.items():
            if resource["Type"] == "AWS::Lambda::Function" and resolver.function_name(logical) == match.group(1):
                return logical
    raise GatewayError(f"cannot tell which function the integration {uri!r} invokes")


def _authorizers(resolver: Resolver, swagger: dict[str, Any]) -> dict[str, AuthorizerSpec]:
    found: dict[str, AuthorizerSpec] = {}
    definitions = swagger.get("securityDefinitions") or swagger.get("components", {}).get("securitySchemes", {})
    for name, definition in definitions.items():
        authorizer = definition.get("x-amazon-apigateway-authorizer")
        if not authorizer:
            continue
        kind = str(authorizer.get("type", "token")).lower()
        sources = [s.strip() for s in str(authorizer.get("identitySource", "")).split(",") if s.strip()]
        if kind == "token" and not sources:
            sources = [f"method.request.header.{definition.get('name', 'Authorization')}"]
        headers = tuple(s.split(".", 3)[3] for s in sources if s.startswith("method.request.header."))
        query = tuple(s.split(".", 3)[3] for s in sources if s.startswith("method.request.querystring."))
        found[name] = AuthorizerSpec(
            name=name,
            function=_function_in_uri(resolver, authorizer["authorizerUri"]),
            kind=kind,
            identity_headers=headers,
            identity_query=query,
            ttl=int(authorizer.get("authorizerResultTtlInSeconds", 300)),
        )
    return found


def discover_apis(template: Template, resolver: Resolver) -> list[ApiSpec]:
    """Every RestApi with an inline swagger Body (what SAM generates for AWS::Serverless::Api)."""
    resources = template.cfn["Resources"]
    apis: list[ApiSpec] = []
    for logical, resource in resources.items():
        if resource["Type"] != "AWS::ApiGateway::RestApi":
            continue
        swagger = resource.get("Properties", {}).get("Body")
        if not isinstance(swagger, dict):
            continue
        stage, variables = "Prod", {}
        for other in resources.values():
            props = other.get("Properties", {})
            if other["Type"] == "AWS::ApiGateway::Stage" and props.get("RestApiId") == {"Ref": logical}:
                stage = str(resolver.resolve(props.get("StageName", stage)))
                variables = {k: str(v) for k, v in resolver.resolve(props.get("Variables", {})).items()}
        authorizers = _authorizers(resolver, swagger)
        default_security = swagger.get("security")
        api = ApiSpec(
            logical_id=logical,
            api_id=api_id(logical),
            stage=stage,
            stage_variables=variables,
            gateway_responses=dict(swagger.get("x-amazon-apigateway-gateway-responses") or {}),
        )
        for path, operations in swagger.get("paths", {}).items():
            for key, operation in operations.items():
                method = "ANY" if key == _ANY else key.upper()
                if method != "ANY" and method not in _METHODS:
                    continue
                integration = operation.get("x-amazon-apigateway-integration", {})
                if integration.get("type") != "aws_proxy":
                    log.warning("%s %s %s: only Lambda proxy integrations run locally", logical, method, path)
                    continue
                security = operation.get("security", default_security) or []
                names = [name for requirement in security for name in requirement]
                authorizer = next((authorizers[n] for n in names if n in authorizers), None)
                api.routes.append(
                    RouteSpec(
                        resource=path,
                        method=method,
                        function=_function_in_uri(resolver, integration["uri"]),
                        authorizer=authorizer,
                    )
                )
        api.routes.sort(key=lambda r: r.specificity)
        apis.append(api)
    return apis


# ----------------------------------------------------------------------------- IAM policy evaluation


def _glob(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def evaluate_policy(policy: Mapping[str, Any], method_arn: str) -> str | None:
    """'Allow', 'Deny' or None (implicit deny) for execute-api:Invoke on method_arn."""
    allowed = False
    for statement in _as_list(policy.get("Statement", [])):
        if not isinstance(statement, dict):
            continue
        actions = _as_list(statement.get("Action", []))
        if not any(_glob(str(a).lower(), "execute-api:invoke") for a in actions):
            continue
        if not any(_glob(str(r), method_arn) for r in _as_list(statement.get("Resource", []))):
            continue
        effect = str(statement.get("Effect", ""))
        if effect == "Deny":
            return "Deny"
        if effect == "Allow":
            allowed = True
    return "Allow" if allowed else None


# ----------------------------------------------------------------------------- the server


@dataclass
class _Cached:
    policy: dict[str, Any]
    principal: str
    context: dict[str, Any]
    expires: float


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _error(status: int, message: str | None, error_type: str) -> Reply:
    body = json.dumps({"message": message}).encode()
    return Reply(status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)], body)


# API Gateway's gateway-response type for each error it raises itself
_RESPONSE_TYPES = {
    "UnauthorizedException": "UNAUTHORIZED",
    "AccessDeniedException": "ACCESS_DENIED",
    "MissingAuthenticationTokenException": "MISSING_AUTHENTICATION_TOKEN",
    "AuthorizerConfigurationException": "AUTHORIZER_CONFIGURATION_ERROR",
    "IntegrationTimeout": "INTEGRATION_TIMEOUT",
    "InternalServerErrorException": "INTEGRATION_FAILURE",
}


def gateway_reply(api: ApiSpec, status: int, message: str | None, error_type: str) -> Reply:
    """The template's gateway response for this error when it declares one, else API Gateway's default."""
    kind = _RESPONSE_TYPES.get(error_type, "")
    fallback = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
    declared = api.gateway_responses.get(kind) or api.gateway_responses.get(fallback)
    if not declared:
        return _error(status, message, error_type)
    template = (declared.get("responseTemplates") or {}).get("application/json")
    body = (
        template.replace("$context.requestId", str(uuid.uuid4())).encode()
        if template
        else json.dumps({"message": message}).encode()
    )
    code = int(declared.get("statusCode", status))
    return Reply(code, [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)], body)


def _stringify_context(context: Mapping[str, Any]) -> dict[str, Any]:
    # REST APIs hand authorizer context to the integration with every value as a string
    out: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif value is None:
            out[key] = None
        else:
            out[key] = str(value)
    return out


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
        self._cache: dict[tuple[str, tuple[str, ...]], _Cached] = {}
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
                "userAgent": _header(headers, "User-Agent"),
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
        reply = _proxy_reply(response)
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
            value = _header(headers, name)
            if not value:
                return gateway_reply(self.api, 401, "Unauthorized", "UnauthorizedException")
            identity.append(value)
        for name in authorizer.identity_query:
            if not query.get(name):
                return gateway_reply(self.api, 401, "Unauthorized", "UnauthorizedException")
            identity.append(query[name])
        key = (authorizer.name, tuple(identity))
        cached: _Cached | None = None
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
            cached = _Cached(
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
            **_stringify_context(cached.context),
            "principalId": cached.principal,
            "integrationLatency": int((time.monotonic() - started) * 1000),
        }


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    value = None
    for key, candidate in headers:
        if key.lower() == name.lower():
            value = candidate
    return value


def _proxy_reply(response: Any) -> Reply | None:
    if not isinstance(response, dict):
        return None
    try:
        status = int(response.get("statusCode", 200))
    except (TypeError, ValueError):
        return None
    headers: list[tuple[str, str]] = []
    multi = response.get("multiValueHeaders") or {}
    single = response.get("headers") or {}
    if not isinstance(multi, dict) or not isinstance(single, dict):
        return None
    for name, value in single.items():
        if name not in multi:
            headers.append((str(name), str(value)))
    for name, values in multi.items():
        headers += [(str(name), str(v)) for v in _as_list(values)]
    body = response.get("body")
    if body is None:
        payload = b""
    elif response.get("isBase64Encoded"):
        try:
            payload = base64.b64decode(str(body))
        except ValueError:
            return None
    else:
        payload = str(body).encode("utf-8")
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return Reply(status, headers, payload)


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
            reply = _error(500, "Internal server error", "InternalServerErrorException")
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
