"""The chain cursor and its window of recent block hashes: where reorgs are noticed and walked back.

Like ponder's sync-realtime, the logic sits in one place: the cursor keeps the last N (number, hash)
pairs; a new range whose first parent hash does not match the newest pair is a reorg, and so is a
cursor block whose hash changed while no new block came (a reorg that keeps the height); walking the
window backwards against canonical hashes finds the common ancestor. A reorg deeper than the window
cannot be resolved safely and is reported, never skipped.

Every cursor write is conditional on the cursor's current `last_block`, so checkpoints only move
from a state the writer has seen: two runs can race, but only one moves the cursor.

A `pending_<run>` attribute records a range being written before its events land. If the run dies
between writing events and moving the cursor and the chain then reorgs, the next run can still find
and delete the orphaned events of that range (they lie beyond the cursor, outside the window).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from shared.store.dynamo import client, from_item, to_item
from shared.store.keys import cursor_key

PENDING_PREFIX = "pending_"


class ReorgTooDeep(RuntimeError):
    """No block in the kept window is canonical any more: an operator must look (alarm)."""


@dataclass(frozen=True)
class Pending:
    run_id: str
    from_block: int
    to_block: int
    tip_hash: str


@dataclass
class Cursor:
    chain_id: int
    last_block: int | None = None
    window: list[tuple[int, str]] = field(default_factory=list)
    range_size: int | None = None
    pending: list[Pending] = field(default_factory=list)

    @property
    def last_hash(self) -> str | None:
        if self.window and self.last_block is not None and self.window[-1][0] == self.last_block:
            return self.window[-1][1]
        return None


def extend_window(
    window: Sequence[tuple[int, str]], new: Sequence[tuple[int, str]], size: int
) -> list[tuple[int, str]]:
    merged = [pair for pair in window if not new or pair[0] < new[0][0]] + list(new)
    return merged[-size:]


def find_common_ancestor(
    window: Sequence[tuple[int, str]], canonical: Callable[[Sequence[int]], Mapping[int, str]]
) -> int | None:
    """The highest block of `window` whose stored hash is still canonical, or None (deeper reorg)."""
    if not window:
        return None
    hashes = canonical([number for number, _ in window])
    for number, stored in reversed(window):
        if hashes.get(number) == stored:
            return number
    return None


def cursor_is_canonical(cursor: Cursor, canonical: Callable[[Sequence[int]], Mapping[int, str]]) -> bool:
    """Whether the block at the cursor is still the chain's. A reorg that keeps the height leaves no
    parent-hash mismatch to find until a later block arrives, so a caught-up run asks this instead."""
    if cursor.last_block is None or cursor.last_hash is None:
        return True
    return canonical([cursor.last_block]).get(cursor.last_block) == cursor.last_hash


class CursorStore:
    def __init__(self, app_table: str, chain_id: int) -> None:
        self.app_table = app_table
        self.chain_id = chain_id
        self.key = to_item(cursor_key(chain_id))

    def load(self) -> Cursor:
        answer = client("dynamodb").get_item(TableName=self.app_table, Key=self.key, ConsistentRead=True)
        values: dict[str, Any] = from_item(answer.get("Item", {}))
        window = []
        for entry in values.get("window", []):
            number, _, block_hash = str(entry).partition(":")
            window.append((int(number), block_hash))
        pending = [
            Pending(name[len(PENDING_PREFIX) :], int(v["from"]), int(v["to"]), str(v["tip"]))
            for name, v in values.items()
            if name.startswith(PENDING_PREFIX) and isinstance(v, dict)
        ]
        return Cursor(
            chain_id=self.chain_id,
            last_block=values.get("last_block"),
            window=window,
            range_size=values.get("range_size"),
            pending=pending,
        )

    def _update(self, expression: str, names: dict[str, str], values: dict[str, Any], prev_last: int | None) -> bool:
        if prev_last is None:
            condition = "attribute_not_exists(last_block)"
        else:
            condition = "last_block = :prev"
            values = {**values, ":prev": prev_last}
        request: dict[str, Any] = {
            "TableName": self.app_table,
            "Key": self.key,
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": to_item(values),
        }
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            client("dynamodb").update_item(**request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_pending(self, prev_last: int | None, pending: Pending) -> bool:
        return self._update(
            "SET #p = :p, chain_id = :chain",
            {"#p": PENDING_PREFIX + pending.run_id},
            {
                ":p": {"from": pending.from_block, "to": pending.to_block, "tip": pending.tip_hash},
                ":chain": self.chain_id,
            },
            prev_last,
        )

    def advance(
        self, prev_last: int | None, new_last: int, window: Sequence[tuple[int, str]], range_size: int, run_id: str
    ) -> bool:
        return self._update(
            "SET last_block = :last, #w = :w, range_size = :size, updated_at = :now, chain_id = :chain REMOVE #p",
            {"#w": "window", "#p": PENDING_PREFIX + run_id},
            {
                ":last": new_last,
                ":w": [f"{n}:{h}" for n, h in window],
                ":size": range_size,
                ":now": int(time.time()),
                ":chain": self.chain_id,
            },
            prev_last,
        )

    def rewind(self, prev_last: int, ancestor: int, window: Sequence[tuple[int, str]]) -> bool:
        return self._update(
            "SET last_block = :last, #w = :w, updated_at = :now",
            {"#w": "window"},
            {":last": ancestor, ":w": [f"{n}:{h}" for n, h in window], ":now": int(time.time())},
            prev_last,
        )

    def clear_pending(self, run_id: str) -> None:
        client("dynamodb").update_item(
            TableName=self.app_table,
            Key=self.key,
            UpdateExpression="REMOVE #p",
            ExpressionAttributeNames={"#p": PENDING_PREFIX + run_id},
        )
