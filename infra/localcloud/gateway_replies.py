"""What API Gateway itself answers: authorizer policy evaluation, its error replies and proxy responses."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.localcloud.api_specs import ApiSpec


def _glob(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def evaluate_policy(policy: Mapping[str, Any], method_arn: str) -> str | None:
    """'Allow', 'Deny' or None (implicit deny) for execute-api:Invoke on method_arn."""
    allowed = False
    for statement in as_list(policy.get("Statement", [])):
        if not isinstance(statement, dict):
            continue
        actions = as_list(statement.get("Action", []))
        if not any(_glob(str(a).lower(), "execute-api:invoke") for a in actions):
            continue
        if not any(_glob(str(r), method_arn) for r in as_list(statement.get("Resource", []))):
            continue
        effect = str(statement.get("Effect", ""))
        if effect == "Deny":
            return "Deny"
        if effect == "Allow":
            allowed = True
    return "Allow" if allowed else None


# ----------------------------------------------------------------------------- the server


@dataclass
class CachedPolicy:
    policy: dict[str, Any]
    principal: str
    context: dict[str, Any]
    expires: float


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def error_reply(status: int, message: str | None, error_type: str) -> Reply:
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
        return error_reply(status, message, error_type)
    template = (declared.get("responseTemplates") or {}).get("application/json")
    body = (
        template.replace("$context.requestId", str(uuid.uuid4())).encode()
        if template
        else json.dumps({"message": message}).encode()
    )
    code = int(declared.get("statusCode", status))
    return Reply(code, [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)], body)


def stringify_context(context: Mapping[str, Any]) -> dict[str, Any]:
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


def header_value(headers: list[tuple[str, str]], name: str) -> str | None:
    value = None
    for key, candidate in headers:
        if key.lower() == name.lower():
            value = candidate
    return value


def proxy_reply(response: Any) -> Reply | None:
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
        headers += [(str(name), str(v)) for v in as_list(values)]
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
