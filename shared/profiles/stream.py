"""From DynamoDB stream images of the Events table to the changes they make: (old event, new event)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.chain.codec import event_from_item
from shared.events import ChainEvent
from shared.profiles.store import apply_changes
from shared.settings import Settings
from shared.store import dynamo

Image = Mapping[str, Any] | None


def change_of(old_image: Image, new_image: Image) -> tuple[ChainEvent | None, ChainEvent | None]:
    """INSERT gives (None, new), REMOVE (the rollback of a reorg) gives (old, None), MODIFY both."""
    old = event_from_item(dynamo.from_item(old_image)) if old_image else None
    new = event_from_item(dynamo.from_item(new_image)) if new_image else None
    return old, new


def apply_images(images: Iterable[tuple[Image, Image]], settings: Settings) -> int:
    """Apply a whole stream batch; returns how many records it held."""
    changes = [change_of(old, new) for old, new in images]
    apply_changes(changes, settings)
    return len(changes)
