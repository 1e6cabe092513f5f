"""The audit log: who (which API key) did what to what, and when.

One item per action in the day's partition (A47), written by the API after the action succeeded;
entries name ids (keys, contacts, campaigns, segments), never personal data, so erasure leaves them
alone. Admin keys read it with GET /audit. Entries are kept for AUDIT_RETENTION_DAYS (TTL).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

from pydantic import BaseModel, Field

from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.codec import DocCodec
from shared.store.paging import query_page

AUDIT_RETENTION_DAYS = 400


class AuditEntry(BaseModel):
    at: float = Field(description="unix time, with milliseconds")
    key_id: str = Field(description="the API key that acted")
    key_name: str
    action: str = Field(description="e.g. key.created, contact.erased, campaign.sent")
    target: str = Field(description="what it acted on: an id")
    request_id: str
    detail: dict[str, Any] = Field(default_factory=dict)


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


AUDIT_CODEC = DocCodec(AuditEntry, attribute="entry")


def day_of(at: float) -> str:
    return dt.datetime.fromtimestamp(at, tz=dt.UTC).date().isoformat()


def record(
    action: str,
    target: str,
    *,
    key_id: str,
    key_name: str = "",
    request_id: str = "",
    detail: dict[str, Any] | None = None,
    settings: Settings,
    now: float | None = None,
) -> AuditEntry:
    at = time.time() if now is None else now
    entry = AuditEntry(
        at=round(at, 3),
        key_id=key_id,
        key_name=key_name,
        action=action,
        target=target,
        request_id=request_id,
        detail=detail or {},
    )
    key = keys.audit_key(day_of(at), int(at * 1000), secrets.token_hex(4))
    item = AUDIT_CODEC.encode(key, entry, expires_at=int(at) + AUDIT_RETENTION_DAYS * 86_400)
    dynamo.client("dynamodb").put_item(
        TableName=settings.app_table, Item=item, ConditionExpression="attribute_not_exists(pk)"
    )
    return entry


def entries(
    day: str, limit: int, after: dict[str, Any] | None, settings: Settings
) -> tuple[list[AuditEntry], dict[str, Any] | None]:
    """One day's entries, newest first."""
    page = query_page(
        settings.app_table,
        limit=limit,
        start=after,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues=dynamo.to_item({":p": keys.audit_partition(day)}),
        ScanIndexForward=False,
    )
    return [AUDIT_CODEC.decode(i) for i in page.items], page.next_key
