"""Scoped API keys, stored hashed, and the policy the REQUEST authorizer returns for them.

A key looks like `kith_<key id>_<secret>`. Only its SHA-256 is stored: the secret has 256 bits of
entropy, so a slow password hash would add latency to every request without adding safety.
Scopes nest: admin > write > read. The authorizer turns them into an IAM policy, so API Gateway
itself refuses (403) a method the key may not call, and the API re-checks the scope as defence in depth.
`pii` stands beside them: without it, reads mask emails, handles, names and secret-bearing URLs
(admin implies it, since an admin can mint any key). The API re-reads the key on every request, so a
revocation holds at once rather than when the authorizer's cache expires.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from shared.store import keys, lite

KEY_PREFIX = "kith_"


def app_table() -> str:
    # Read from the environment, not shared.settings, and with the DynamoDB SDK imported only by the key
    # management (shared.auth.manage): the authorizer imports this module, and the settings' models and
    # botocore would triple its cold start. Reading a key (every request) goes through shared.store.lite.
    return os.environ.get("APP_TABLE", "")


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    PII = "pii"


SCOPE_RANK = {Scope.READ: 1, Scope.WRITE: 2, Scope.ADMIN: 3}
ROUTE_SCOPES = (Scope.READ, Scope.WRITE, Scope.ADMIN)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class ApiKey:
    """A key as stored. A dataclass, not a pydantic model: the authorizer reads one on every uncached request,
    and pydantic would add a sixth of a second to its cold start; the API's views (KeyInfo) are pydantic."""

    key_id: str
    name: str
    scopes: list[Scope]
    created_at: int
    revoked_at: int | None = None
    last_four: str = ""  # the secret's last four characters, to recognise a key

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def model_validate(cls, values: Mapping[str, Any]) -> ApiKey:
        """From a stored item (extra attributes such as the keys are ignored)."""
        revoked = values.get("revoked_at")
        return cls(
            key_id=str(values["key_id"]),
            name=str(values["name"]),
            scopes=[Scope(s) for s in values["scopes"]],
            created_at=int(values["created_at"]),
            revoked_at=None if revoked is None else int(revoked),
            last_four=str(values.get("last_four", "")),
        )

    def model_dump(self, mode: str = "json") -> dict[str, Any]:
        return {**asdict(self), "scopes": [str(s) for s in self.scopes]}


class AuthError(Exception):
    """The presented key is missing, malformed, unknown or revoked."""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def scope_allows(granted: list[Scope] | frozenset[Scope], needed: Scope) -> bool:
    if needed is Scope.PII:
        return Scope.PII in granted or Scope.ADMIN in granted
    return any(g in SCOPE_RANK and SCOPE_RANK[g] >= SCOPE_RANK[needed] for g in granted)


ADMIN_RESOURCES = frozenset({"keys", "audit"})
# reads that return personal data or secrets whole, whatever the key's other scopes, as API Gateway resource
# globs: the authorizer's policy denies them to keys without pii, and required_scope matches them
PII_READ_RESOURCES = ("contacts/export.csv", "campaigns/*/webhook-secret")
_PII_READS = tuple(
    re.compile("^" + "[^/]+".join(re.escape(part) for part in glob.split("*")) + "$") for glob in PII_READ_RESOURCES
)


def required_scope(method: str, path: str) -> Scope:
    route = path.strip("/")
    if route.split("/")[0] in ADMIN_RESOURCES:
        return Scope.ADMIN
    if method.upper() in READ_METHODS and any(p.match(route) for p in _PII_READS):
        return Scope.PII
    return Scope.READ if method.upper() in READ_METHODS else Scope.WRITE


def authenticate(secret: str) -> ApiKey:
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        raise AuthError("malformed API key")
    key = key_by_hash(hash_secret(secret))
    # constant-time comparison of the id embedded in the secret guards against hash-prefix confusion
    if key is None or not hmac.compare_digest(secret.split("_")[1], key.key_id) or not key.active:
        raise AuthError("revoked or unknown API key")
    return key


def key_by_hash(secret_hash: str, consistent: bool = False) -> ApiKey | None:
    item = lite.get_item(app_table(), keys.api_key_key(secret_hash), consistent=consistent)
    return ApiKey.model_validate(item) if item is not None else None


def still_active(key_id: str, secret_hash: str) -> bool:
    """The API's per-request check: the key the authorizer let through (and cached) is not revoked since."""
    key = key_by_hash(secret_hash, consistent=True)
    return key is not None and key.key_id == key_id and key.active


def bearer_secret(headers: dict[str, str]) -> str | None:
    for name, value in headers.items():
        if name.lower() == "authorization":
            scheme, _, token = value.strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def policy_for(key: ApiKey, method_arn: str, secret_hash: str) -> dict[str, Any]:
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
            {
                "Action": "execute-api:Invoke",
                "Effect": "Deny",
                "Resource": [f"{base}/*/{r}{tail}" for r in sorted(ADMIN_RESOURCES) for tail in ("", "/*")],
            }
        )
    if not scope_allows(key.scopes, Scope.PII):
        # refused at the gateway, before the API validates the path: a key without pii learns nothing more
        statements.append(
            {
                "Action": "execute-api:Invoke",
                "Effect": "Deny",
                "Resource": [f"{base}/{method}/{r}" for method in sorted(READ_METHODS) for r in PII_READ_RESOURCES],
            }
        )
    return {
        "principalId": key.key_id,
        "policyDocument": {"Version": "2012-10-17", "Statement": statements},
        # key_hash lets the API re-read the key on every request (revocation holds before this policy's cache ends)
        "context": {
            "key_id": key.key_id,
            "scopes": ",".join(key.scopes),
            "name": key.name,
            "key_hash": secret_hash,
        },
    }


def _api_stage_prefix(method_arn: str) -> tuple[str, str]:
    # arn:aws:execute-api:region:account:api-id/stage/METHOD/resource/path
    head, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0] if rest else "*"
    return head, stage
