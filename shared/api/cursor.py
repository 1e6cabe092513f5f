"""Opaque, tamper-evident paging cursors.

A cursor is base64url(JSON) plus an HMAC-SHA256 tag. The signing key is generated once per
deployment and kept in the App table, so no secret lives in code or configuration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from shared.api.errors import BadRequest
from shared.settings import get_settings
from shared.store import keys
from shared.store.secrets import deployment_secret


def _signing_key(table: str) -> bytes:
    key = keys.cursor_signing_key()
    return deployment_secret(table, key["pk"], key["sk"])


def encode_cursor(state: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")
    tag = hmac.new(_signing_key(get_settings().app_table), payload.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{payload}.{tag}"


def decode_cursor(cursor: str) -> dict[str, Any]:
    payload, _, tag = cursor.partition(".")
    expected = hmac.new(_signing_key(get_settings().app_table), payload.encode(), hashlib.sha256).hexdigest()[:32]
    if not tag or not hmac.compare_digest(tag, expected):
        raise BadRequest("cursor is not one this API issued; pass the `next_cursor` of the previous page", "cursor")
    try:
        state: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError as exc:
        raise BadRequest("cursor is malformed; start again without it", "cursor") from exc
    return state
