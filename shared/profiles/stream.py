"""From a DynamoDB stream record of the Events table to the change it makes: (old event, new event)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.chain.codec import event_from_item
from shared.events import ChainEvent
from shared.store import dynamo


def change_of(old_image: Mapping[str, Any] | None, new_image: Mapping[str, Any] | None) -> tuple[
    ChainEvent | None, ChainEvent | None
]:
    """INSERT gives (None, new), REMOVE, the rollback of a reorg, gives (old, None), MODIFY both."""
    old = event_from_item(dynamo.from_item(old_image)) if old_image else None
    new = event_from_item(dynamo.from_item(new_image)) if new_image else None
    return old, new
