"""Opaque, tamper-evident paging cursors.

A cursor is base64url(JSON) plus an HMAC-SHA256 tag. The signing key is generated once per
deployment and kept in the App table, so no secret lives in code or configuration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from functools import lru_cache
from typing import Any

from botocore.exceptions import ClientError

from shared.api.errors import BadRequest
from shared.settings import get_settings
from shared.store import dynamo, keys


@lru_cache(maxsize=4)
def _signing_key(table: str) -> bytes:
    db = dynamo.client("dynamodb")
    item_key = dynamo.to_item(keys.cursor_signing_key())
    found = db.get_item(TableName=table, Key=item_key, ConsistentRead=True).get("Item")
    if found:
        return base64.b64decode(found["secret"]["S"])
    candidate = secrets.token_bytes(32)
    try:
        db.put_item(
            TableName=table,
            Item={**item_key, "secret": {"S": base64.b64encode(candidate).decode()}},
            ConditionExpression="attribute_not_exists(pk)",
        )
        return candidate
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        # another instance won the race: use its key
        found = db.get_item(TableName=table, Key=item_key, ConsistentRead=True)["Item"]
        return base64.b64decode(found["secret"]["S"])


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
