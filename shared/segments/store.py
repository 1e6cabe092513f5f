"""Segment definitions (versioned) and their membership items.

A definition's current version lives at DEF, every version at DEF#v<n>; members at MEMBER#<addr>
under the segment, so one page of members is one Query. Membership changes are published to the
event bus as `segment.entered` / `segment.exited`, which triggered campaigns subscribe to.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from shared.intel import EVENT_SOURCE
from shared.segments.rules import SegmentRule
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.bus import BusEvent, publish
from shared.store.codec import DocCodec
from shared.store.paging import count, query_all, query_page, query_pages
from shared.store.transact import cancellation_reasons, is_condition_failure


class SegmentDefinition(BaseModel):
    segment_id: str
    name: str
    description: str = ""
    rule: SegmentRule
    version: int = Field(ge=1)
    created_at: int
    updated_at: int
    status: Literal["evaluating", "ready"] = "evaluating"
    members: int | None = Field(default=None, description="current number of members")


class EvalProgress(BaseModel):
    segment_id: str
    version: int
    state: Literal["running", "done"] = "running"
    pages: int = 0
    evaluated: int = 0
    members: int = 0
    started_at: int = 0
    finished_at: int | None = None


SEGMENT_CODEC = DocCodec(SegmentDefinition)
EVAL_PROGRESS_CODEC = DocCodec(EvalProgress)


class SegmentNotFound(LookupError):
    pass


class VersionConflict(RuntimeError):
    pass


def _db() -> Any:
    return dynamo.client("dynamodb")


def _definition_item(definition: SegmentDefinition, current: bool) -> dict[str, Any]:
    key = keys.segment_def_key(definition.segment_id, None if current else definition.version)
    listed = keys.segment_list_gsi(definition.segment_id) if current else {}
    return SEGMENT_CODEC.encode({**key, **listed}, definition, version=definition.version)


def create_segment(name: str, rule: SegmentRule, settings: Settings, description: str = "") -> SegmentDefinition:
    now = int(time.time())
    definition = SegmentDefinition(
        segment_id=secrets.token_hex(6),
        name=name,
        description=description,
        rule=rule,
        version=1,
        created_at=now,
        updated_at=now,
    )
    _db().transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": settings.app_table,
                    "Item": _definition_item(definition, True),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Put": {"TableName": settings.app_table, "Item": _definition_item(definition, False)}},
        ]
    )
    return definition


def update_segment(
    segment_id: str,
    *,
    expected_version: int | None,
    name: str | None = None,
    description: str | None = None,
    rule: SegmentRule | None = None,
    settings: Settings,
) -> SegmentDefinition:
    """A new version; `expected_version` (optimistic concurrency) guards against lost updates."""
    current = get_segment(segment_id, settings)
    if expected_version is not None and expected_version != current.version:
        raise VersionConflict(f"segment {segment_id} is at version {current.version}, not {expected_version}")
    updated = current.model_copy(
        update={
            "name": name if name is not None else current.name,
            "description": description if description is not None else current.description,
            "rule": rule if rule is not None else current.rule,
            "version": current.version + 1,
            "updated_at": int(time.time()),
            "status": "evaluating" if rule is not None else current.status,
        }
    )
    try:
        _db().transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": settings.app_table,
                        "Item": _definition_item(updated, True),
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeValues": {":v": {"N": str(current.version)}},
                    }
                },
                {"Put": {"TableName": settings.app_table, "Item": _definition_item(updated, False)}},
            ]
        )
    except ClientError as exc:
        if cancellation_reasons(exc) is not None:
            raise VersionConflict(f"segment {segment_id} changed while you edited it; read it again") from exc
        raise
    return updated


def get_segment(segment_id: str, settings: Settings, version: int | None = None) -> SegmentDefinition:
    item = (
        _db()
        .get_item(
            TableName=settings.app_table,
            Key=dynamo.to_item(keys.segment_def_key(segment_id, version)),
            ConsistentRead=True,
        )
        .get("Item")
    )
    if not item:
        raise SegmentNotFound(segment_id)
    return SEGMENT_CODEC.decode(item)


def segment_history(segment_id: str, settings: Settings) -> list[SegmentDefinition]:
    items = query_all(
        settings.app_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
        ExpressionAttributeValues={":pk": {"S": keys.segment_pk(segment_id)}, ":v": {"S": keys.SEGMENT_VERSION_PREFIX}},
        ScanIndexForward=False,
    )
    return [SEGMENT_CODEC.decode(i) for i in items]


def list_segments(settings: Settings) -> list[SegmentDefinition]:
    items = query_all(
        settings.app_table,
        IndexName=keys.GSI1,
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.SEGMENTS_GSI1PK}},
    )
    return [SEGMENT_CODEC.decode(i) for i in items]


def set_status(definition: SegmentDefinition, status: str, members: int | None, settings: Settings) -> None:
    """Mark the evaluation of one version done; a newer version's definition is left alone."""
    updated = definition.model_copy(update={"status": status, "members": members})
    try:
        _db().put_item(
            TableName=settings.app_table,
            Item=_definition_item(updated, True),
            ConditionExpression="version = :v",
            ExpressionAttributeValues={":v": {"N": str(definition.version)}},
        )
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise


def delete_segment(segment_id: str, settings: Settings) -> int:
    """Delete the definition, its history and its members; returns the members removed."""
    get_segment(segment_id, settings)
    removed = 0
    pages = query_pages(
        settings.app_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.segment_pk(segment_id)}},
        ProjectionExpression="pk, sk",
    )
    for items in pages:
        removed += sum(1 for i in items if dynamo.from_item(i)["sk"].startswith(keys.MEMBER_PREFIX))
        if items:
            dynamo.batch_write(settings.app_table, deletes=items)
    return removed


# ---- membership --------------------------------------------------------------------------------


def current_memberships(address: str, segment_ids: Iterable[str], settings: Settings) -> set[str]:
    """Which of these segments the wallet is a member of now (BatchGetItem, 100 keys a request)."""
    wanted = [dynamo.to_item(keys.member_key(s, address)) for s in segment_ids]
    return {keys.segment_of(dynamo.from_item(item)["pk"]) for item in dynamo.batch_get(settings.app_table, wanted)}


def member_put(segment_id: str, address: str, version: int, at: int) -> dict[str, Any]:
    return dynamo.to_item(
        {
            **keys.member_key(segment_id, address),
            **keys.member_of_gsi(address, segment_id),
            "address": address.lower(),
            "segment_id": segment_id,
            "version": version,
            "entered_at": at,
        }
    )


def apply_membership(
    address: str,
    entered: list[SegmentDefinition],
    exited: list[SegmentDefinition],
    at: int,
    settings: Settings,
) -> None:
    """Write the membership changes of one wallet, then tell the bus. Idempotent: a redelivery re-puts
    the same items, and consumers of the bus events dedupe on (segment, wallet, version, kind)."""
    if not entered and not exited:
        return
    dynamo.batch_write(
        settings.app_table,
        puts=[member_put(s.segment_id, address, s.version, at) for s in entered],
        deletes=[dynamo.to_item(keys.member_key(s.segment_id, address)) for s in exited],
    )
    publish_changes(
        [("segment.entered", s, address) for s in entered] + [("segment.exited", s, address) for s in exited],
        at,
        settings,
    )


def publish_changes(changes: list[tuple[str, SegmentDefinition, str]], at: int, settings: Settings) -> None:
    if not settings.event_bus_name or not changes:
        return
    events = [
        BusEvent(
            EVENT_SOURCE, kind, {"segment_id": s.segment_id, "segment_version": s.version, "address": address, "at": at}
        )
        for kind, s, address in changes
    ]
    publish(settings.event_bus_name, events, what="segment events")


def members_page(
    segment_id: str, limit: int, after: dict[str, Any] | None, settings: Settings
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of members: exactly one Query (no filter, so a page comes back short only at the end)."""
    page = query_page(
        settings.app_table,
        limit=limit,
        start=after,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
        ExpressionAttributeValues={":pk": {"S": keys.segment_pk(segment_id)}, ":m": {"S": keys.MEMBER_PREFIX}},
    )
    return [dynamo.from_item(i) for i in page.items], page.next_key


def member_count(segment_id: str, settings: Settings) -> int:
    """Live member count: a COUNT query (one request per MB of keys), never a stored counter to drift."""
    return count(
        settings.app_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
        ExpressionAttributeValues={":pk": {"S": keys.segment_pk(segment_id)}, ":m": {"S": keys.MEMBER_PREFIX}},
    )


def with_live_count(definition: SegmentDefinition, settings: Settings) -> SegmentDefinition:
    return definition.model_copy(update={"members": member_count(definition.segment_id, settings)})


def is_member(segment_id: str, address: str, settings: Settings) -> dict[str, Any] | None:
    item = (
        _db()
        .get_item(TableName=settings.app_table, Key=dynamo.to_item(keys.member_key(segment_id, address)))
        .get("Item")
    )
    return dynamo.from_item(item) if item else None
