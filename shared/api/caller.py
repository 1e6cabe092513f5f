"""Who is calling: the API key the authorizer let through, as the routes of one request see it."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from shared import audit as audit_log
from shared.auth import Scope, scope_allows
from shared.settings import get_settings


@dataclass(frozen=True)
class Caller:
    key_id: str
    name: str
    scopes: frozenset[Scope]
    key_hash: str | None
    request_id: str

    def may(self, scope: Scope) -> bool:
        return scope_allows(self.scopes, scope)

    @property
    def sees_pii(self) -> bool:
        return self.may(Scope.PII)


NOBODY = Caller(key_id="", name="", scopes=frozenset(), key_hash=None, request_id="")
_CURRENT: ContextVar[Caller] = ContextVar("kith_api_caller", default=NOBODY)


def caller_from_event(event: dict[str, Any]) -> Caller:
    context = event.get("requestContext") or {}
    authorizer: dict[str, Any] = context.get("authorizer") or {}
    known = set(Scope.__members__.values())
    scopes = frozenset(Scope(s) for s in str(authorizer.get("scopes", "")).split(",") if s in known)
    return Caller(
        key_id=str(authorizer.get("key_id") or authorizer.get("principalId") or ""),
        name=str(authorizer.get("name") or ""),
        scopes=scopes,
        key_hash=str(authorizer["key_hash"]) if authorizer.get("key_hash") else None,
        request_id=str(context.get("requestId") or ""),
    )


def current_caller() -> Caller:
    return _CURRENT.get()


def set_caller(caller: Caller) -> object:
    return _CURRENT.set(caller)


def reset_caller(token: object) -> None:
    _CURRENT.reset(token)  # type: ignore[arg-type]


def audit(action: str, target: str, **detail: object) -> None:
    """Record that the current caller did `action` to `target` (the audit log, shared.audit)."""
    caller = current_caller()
    audit_log.record(
        action,
        target,
        key_id=caller.key_id,
        key_name=caller.name,
        request_id=caller.request_id,
        detail=dict(detail),
        settings=get_settings(),
    )
