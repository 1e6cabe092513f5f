"""The REST APIs of the template as the gateway serves them: routes, integrations and Lambda authorizers.

Read from the translated RestApi's swagger (see `gateway`); docs/architecture.md "The local cloud".
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from infra.localcloud.intrinsics import Resolver, api_id
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
