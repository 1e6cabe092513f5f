"""Conditional writes: version-checked puts, transactions applied exactly once, and why one was cancelled.

Two contexts apply chain events to their own items exactly once (profiles and lending positions).
Both use the same mechanism, written here: a transaction whose first write is a marker item for the
event (put when applying, deleted when rolling back), so a redelivered event fails only the marker's
condition and is recognised as already applied without a read first. Items change under
optimistic concurrency: each carries a version `v`, and a write is conditional on the version read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from shared.retry import STORE, Backoff
from shared.store import dynamo

T = TypeVar("T")

VERSION = "v"
MAX_CONFLICT_RETRIES = 20
CONDITION_FAILED = "ConditionalCheckFailed"
NOT_THERE = "attribute_not_exists(pk)"


class ApplyConflict(RuntimeError):
    """The items kept changing under every attempt; the message names the event."""


def cancellation_reasons(error: ClientError) -> list[str] | None:
    """The per-write codes of a cancelled transaction ("None" for a write that passed); None otherwise."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    return [str(r.get("Code", "None")) for r in error.response.get("CancellationReasons", [])]


def is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def version_guard(version: int) -> tuple[str, dict[str, Any]]:
    """The condition that the item is still at `version` (0: it does not exist yet), and its values."""
    if version == 0:
        return NOT_THERE, {}
    return f"{VERSION} = :expected_version", {":expected_version": {"N": str(version)}}


@dataclass(frozen=True)
class Guard:
    """A further condition on an item that exists, beside its version (names and values typed)."""

    expression: str
    names: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)


def below(attribute: str, bound: int) -> Guard:
    """The stored number `attribute` is below `bound`: e.g. a record of an older block."""
    return Guard("#below < :below", {"#below": attribute}, {":below": {"N": str(bound)}})


def versioned_put(
    table: str, item: Mapping[str, Any], version: int, when_present: Guard | None = None
) -> dict[str, Any]:
    """A transaction's Put of a typed item at `version` + 1, on condition it is still at `version`
    and, when it exists, that `when_present` holds."""
    condition, values = version_guard(version)
    put: dict[str, Any] = {
        "TableName": table,
        "Item": {**item, VERSION: {"N": str(version + 1)}},
        "ConditionExpression": condition,
    }
    if version and when_present is not None:
        put["ConditionExpression"] = f"{condition} AND {when_present.expression}"
        values = {**values, **when_present.values}
        if when_present.names:
            put["ExpressionAttributeNames"] = dict(when_present.names)
    if values:
        put["ExpressionAttributeValues"] = values
    return {"Put": put}


def versioned_update(table: str, key: Mapping[str, Any], version: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """A transaction's Update setting the typed `values` and the version to `version` + 1, on condition
    the item is still at `version`: the other attributes stay as they are."""
    names = {f"#a{n}": name for n, name in enumerate(values)}
    typed = {f":a{n}": value for n, value in enumerate(values.values())}
    assignments = ", ".join(f"{name} = {value}" for name, value in zip(names, typed, strict=True))
    return {
        "Update": {
            "TableName": table,
            "Key": dict(key),
            "UpdateExpression": f"SET {assignments}, {VERSION} = :next_version",
            "ConditionExpression": f"{VERSION} = :expected_version",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {
                **typed,
                ":expected_version": {"N": str(version)},
                ":next_version": {"N": str(version + 1)},
            },
        }
    }


def versioned_delete(table: str, key: Mapping[str, Any], version: int) -> dict[str, Any]:
    """A transaction's Delete of a typed key, on condition the item is still at `version`."""
    condition, values = version_guard(version)
    delete: dict[str, Any] = {"TableName": table, "Key": dict(key), "ConditionExpression": condition}
    if values:
        delete["ExpressionAttributeValues"] = values
    return {"Delete": delete}


def version_of(item: Mapping[str, Any] | None) -> int:
    """The version of a typed item as read (0 when there is none)."""
    return int(item[VERSION]["N"]) if item and VERSION in item else 0


def marker_write(
    table: str, key: Mapping[str, Any], sign: int, block_hash: str, attributes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The first write of an exactly-once transaction: the marker put (apply) or deleted (roll back).

    Applying requires that no marker exists; rolling back requires the marker of the same block, so a
    rollback of an event never applied, or applied from another block, changes nothing. A put marker
    also carries `attributes` (plain values), e.g. what kind of event it stands for.
    """
    if sign > 0:
        item = {**key, **dynamo.to_item(attributes or {}), "block_hash": {"S": block_hash}}
        return {"Put": {"TableName": table, "Item": item, "ConditionExpression": NOT_THERE}}
    return {
        "Delete": {
            "TableName": table,
            "Key": dict(key),
            "ConditionExpression": "block_hash = :h",
            "ExpressionAttributeValues": {":h": {"S": block_hash}},
        }
    }


def apply_once(
    attempt: Callable[[], T],
    *,
    what: str,
    attempts: int = MAX_CONFLICT_RETRIES,
    backoff: Backoff = STORE,
) -> T | None:
    """Run `attempt` (read, build a transaction whose first write is the marker, write it) once in effect.

    Returns the attempt's result, or None when only the marker's condition failed: another delivery
    already did the work. Any other cancellation is a lost race on the items; it is retried with a
    fresh read, and after `attempts` raises ApplyConflict naming `what`.
    """
    for number in range(attempts):
        try:
            return attempt()
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            if reasons is None:
                raise
            if reasons and reasons[0] == CONDITION_FAILED and reasons.count(CONDITION_FAILED) == 1:
                return None
            backoff.pause(min(number, 3))
    raise ApplyConflict(f"{what}: the items kept changing under {attempts} attempts")
