"""DynamoDB GetItem over HTTPS with a hand-made SigV4 signature, for the authorizer's one read per request.

Importing botocore costs about a quarter of a second of CPU, most of the authorizer's cold start, for
one GetItem. This module signs that request itself with the standard library (hmac, hashlib,
http.client), with the credentials Lambda puts in the environment, and reads the typed answer with
the same number conversion as shared.store.dynamo (integers stay int). It retries throttling, 5xx and
dropped connections with jittered backoff, as botocore would. Requests are counted in the same
shared.store.counting.REQUESTS. Without credentials in the environment it falls back to botocore.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from shared.retry import STORE
from shared.store.counting import REQUESTS

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
MAX_ATTEMPTS = 6
TIMEOUT_S = 5.0
_RETRYABLE_TYPES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


class DynamoError(RuntimeError):
    """DynamoDB refused the request; `code` is its error type (e.g. ResourceNotFoundException)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class _Connections(threading.local):
    by_endpoint: dict[str, http.client.HTTPConnection]

    def __init__(self) -> None:
        self.by_endpoint = {}


_CONNECTIONS = _Connections()


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _endpoint(region: str) -> str:
    return (
        os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        or os.environ.get("AWS_ENDPOINT_URL")
        or f"https://dynamodb.{region}.amazonaws.com"
    )


def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_headers(
    operation: str,
    body: bytes,
    host: str,
    region: str,
    access_key: str,
    secret_key: str,
    token: str | None,
    now: dt.datetime,
) -> dict[str, str]:
    """The headers of a SigV4-signed DynamoDB JSON request (service `dynamodb`, path `/`, no query)."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    headers = {
        "content-type": CONTENT_TYPE,
        "host": host,
        "x-amz-date": amz_date,
        "x-amz-target": TARGET_PREFIX + operation,
    }
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            "".join(f"{name}:{headers[name].strip()}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/dynamodb/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _sign(_sign(_sign(_sign(f"AWS4{secret_key}".encode(), day), region), "dynamodb"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers


def _connection(endpoint: str) -> http.client.HTTPConnection:
    connection = _CONNECTIONS.by_endpoint.get(endpoint)
    if connection is None:
        parts = urlsplit(endpoint)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = kind(parts.netloc, timeout=TIMEOUT_S)
        _CONNECTIONS.by_endpoint[endpoint] = connection
    return connection


def call(operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """One DynamoDB JSON API call, signed, retried as botocore retries; the decoded answer."""
    access_key = os.environ.get("AWS_ACCESS_KEY_ID", "")
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    region = _region()
    endpoint = _endpoint(region)
    host = urlsplit(endpoint).netloc
    body = json.dumps(payload).encode()
    last = ""
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            STORE.pause(attempt)
        headers = signed_headers(
            operation,
            body,
            host,
            region,
            access_key,
            secret_key,
            os.environ.get("AWS_SESSION_TOKEN"),
            dt.datetime.now(dt.UTC),
        )
        REQUESTS.record(f"dynamodb:{operation}")
        connection = _connection(endpoint)
        try:
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()  # a dropped keep-alive connection: the next attempt opens a new one
            last = f"{type(exc).__name__}"
            continue
        answer: dict[str, Any] = json.loads(raw) if raw else {}
        if response.status == 200:
            return answer
        code = str(answer.get("__type", "")).rsplit("#", 1)[-1] or f"HTTP{response.status}"
        message = str(answer.get("message") or answer.get("Message") or "")
        if response.status >= 500 or code in _RETRYABLE_TYPES:
            last = f"{code}: {message}"
            continue
        raise DynamoError(code, message)
    raise DynamoError("RetriesExhausted", f"{operation} failed after {MAX_ATTEMPTS} attempts: {last}")


def get_item(table: str, key: Mapping[str, str], consistent: bool = False) -> dict[str, Any] | None:
    """The item with string key attributes `key`, as plain Python values, or None if there is none."""
    typed_key = {name: {"S": value} for name, value in key.items()}
    if not os.environ.get("AWS_ACCESS_KEY_ID") or not os.environ.get("AWS_SECRET_ACCESS_KEY"):
        # Lambda always sets both; a profile or an instance role is botocore's business (shared.store.dynamo)
        raise DynamoError(
            "MissingCredentials",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or read through shared.store.dynamo",
        )
    answer = call("GetItem", {"TableName": table, "Key": typed_key, "ConsistentRead": consistent})
    item = answer.get("Item")
    return {name: from_typed(value) for name, value in item.items()} if item else None


def _number(text: str) -> int | float:
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


def from_typed(value: Mapping[str, Any]) -> Any:
    """One DynamoDB-JSON attribute value as shared.store.dynamo.from_item reads it."""
    ((kind, inner),) = value.items()
    if kind in ("S", "BOOL"):
        return inner
    if kind == "N":
        return _number(inner)
    if kind == "NULL":
        return None
    if kind == "B":
        return base64.b64decode(inner)
    if kind == "SS":
        return set(inner)
    if kind == "NS":
        return {_number(v) for v in inner}
    if kind == "BS":
        return {base64.b64decode(v) for v in inner}
    if kind == "L":
        return [from_typed(v) for v in inner]
    if kind == "M":
        return {k: from_typed(v) for k, v in inner.items()}
    raise ValueError(f"unknown DynamoDB type {kind}")
