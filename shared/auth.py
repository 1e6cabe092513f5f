"""Scoped API keys, stored hashed, and the policy the REQUEST authorizer returns for them.

A key looks like `kith_<key id>_<secret>`. Only its SHA-256 is stored: the secret has 256 bits of
entropy, so a slow password hash would add latency to every request without adding safety.
Scopes nest: admin > write > read. The authorizer turns them into an IAM policy, so API Gateway
itself refuses (403) a method the key may not call, and the API re-checks the scope as defence in depth.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from shared.settings import get_settings
from shared.store import dynamo, keys

KEY_PREFIX = "kith_"


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


_RANK = {Scope.READ: 1, Scope.WRITE: 2, Scope.ADMIN: 3}
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ApiKey(BaseModel):
    key_id: str
    name: str
    scopes: list[Scope]
    created_at: int
    revoked_at: int | None = None
    last_four: str = Field(description="the secret's last four characters, to recognise a key")

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class AuthError(Exception):
    """The presented key is missing, malformed, unknown or revoked."""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def scope_allows(granted: list[Scope], needed: Scope) -> bool:
    return any(_RANK[g] >= _RANK[needed] for g in granted)


def required_scope(method: str, path: str) -> Scope:
    if path.strip("/").split("/")[0] == "keys":
        return Scope.ADMIN
    return Scope.READ if method.upper() in READ_METHODS else Scope.WRITE


def create_api_key(name: str, scopes: list[str]) -> tuple[str, str]:
    """Create a key; returns (key id, secret). The secret is shown once and never stored."""
    parsed = [Scope(s) for s in scopes]
    if not parsed:
        raise ValueError("a key needs at least one scope: read, write or admin")
    key_id = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKey(key_id=key_id, name=name, scopes=parsed, created_at=int(time.time()), last_four=secret[-4:])
    item = {
        **keys.api_key_key(hash_secret(secret)),
        **keys.api_key_list_gsi(key_id),
        **record.model_dump(mode="json"),
    }
    dynamo.client("dynamodb").put_item(
        TableName=get_settings().app_table,
        Item=dynamo.to_item(item),
        ConditionExpression="attribute_not_exists(pk)",
    )
    return key_id, secret


def authenticate(secret: str) -> ApiKey:
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        raise AuthError("malformed API key")
    response = dynamo.client("dynamodb").get_item(
        TableName=get_settings().app_table, Key=dynamo.to_item(keys.api_key_key(hash_secret(secret)))
    )
    if "Item" not in response:
        raise AuthError("unknown API key")
    record = dynamo.from_item(response["Item"])
    key = ApiKey.model_validate(record)
    # constant-time comparison of the id embedded in the secret guards against hash-prefix confusion
    if not hmac.compare_digest(secret.split("_")[1], key.key_id) or not key.active:
        raise AuthError("revoked or unknown API key")
    return key


def list_api_keys() -> list[ApiKey]:
    paginator = dynamo.client("dynamodb").get_paginator("query")
    found: list[ApiKey] = []
    for page in paginator.paginate(
        TableName=get_settings().app_table,
        IndexName=keys.GSI1,
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": "APIKEYS"}},
    ):
        found += [ApiKey.model_validate(dynamo.from_item(i)) for i in page["Items"]]
    return found


def revoke_api_key(key_id: str) -> ApiKey | None:
    """Revoke by id; returns the revoked key, or None when no such key exists."""
    response = dynamo.client("dynamodb").query(
        TableName=get_settings().app_table,
        IndexName=keys.GSI1,
        KeyConditionExpression="gsi1pk = :p AND gsi1sk = :k",
        ExpressionAttributeValues={":p": {"S": "APIKEYS"}, ":k": {"S": key_id}},
    )
    if not response["Items"]:
        return None
    item = dynamo.from_item(response["Items"][0])
    now = int(time.time())
    dynamo.client("dynamodb").update_item(
        TableName=get_settings().app_table,
        Key=dynamo.to_item({keys.PK: item[keys.PK], keys.SK: item[keys.SK]}),
        UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :now)",
        ExpressionAttributeValues={":now": {"N": str(now)}},
    )
    item.setdefault("revoked_at", now)
    return ApiKey.model_validate(item)


def bearer_secret(headers: dict[str, str]) -> str | None:
    for name, value in headers.items():
        if name.lower() == "authorization":
            scheme, _, token = value.strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def policy_for(key: ApiKey, method_arn: str) -> dict[str, Any]:
    """An IAM policy covering every route the key may call, so API Gateway can cache it per key."""
    arn_prefix, stage = _api_stage_prefix(method_arn)
    base = f"{arn_prefix}/{stage}"
    allow: list[str]
    if scope_allows(key.scopes, Scope.WRITE):
        allow = [f"{base}/*/*"]
    else:
        allow = [f"{base}/{method}/*" for method in sorted(READ_METHODS)]
    statements: list[dict[str, Any]] = [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": allow}]
    if not scope_allows(key.scopes, Scope.ADMIN):
        statements.append(
            {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [f"{base}/*/keys", f"{base}/*/keys/*"]}
        )
    return {
        "principalId": key.key_id,
        "policyDocument": {"Version": "2012-10-17", "Statement": statements},
        "context": {"key_id": key.key_id, "scopes": ",".join(key.scopes), "name": key.name},
    }


def _api_stage_prefix(method_arn: str) -> tuple[str, str]:
    # arn:aws:execute-api:region:account:api-id/stage/METHOD/resource/path
    head, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0] if rest else "*"
    return head, stage
