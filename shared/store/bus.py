"""Publishing domain events on the EventBridge bus: batches of ten, with the refused entries retried.

The bus is how one context tells the others what happened (docs/architecture.md, "Events"): the
publisher names a source and a detail type, and the template's rules route each detail type to the
queue of whoever reacts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.retry import STORE, Backoff, drain_batches
from shared.store import dynamo

PUT_EVENTS_LIMIT = 10


@dataclass(frozen=True)
class BusEvent:
    source: str
    detail_type: str
    detail: Mapping[str, Any]


def publish(bus_name: str, events: Sequence[BusEvent], *, what: str, backoff: Backoff = STORE) -> int:
    """Put each event on the bus; returns the PutEvents requests made.

    Raises RetriesExhausted naming `what` when EventBridge keeps refusing entries, so a caller never
    settles as published what was not (the caller's retry then publishes again, and reactions are
    idempotent per occurrence).
    """
    if not bus_name:
        raise ValueError(f"{what}: no event bus is configured")
    client = dynamo.client("events")

    def put(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answer = client.put_events(Entries=entries)
        if not answer.get("FailedEntryCount"):
            return []
        return [entry for entry, result in zip(entries, answer["Entries"], strict=True) if result.get("ErrorCode")]

    entries = [
        {
            "Source": event.source,
            "DetailType": event.detail_type,
            "EventBusName": bus_name,
            "Detail": json.dumps(dict(event.detail), sort_keys=True),
        }
        for event in events
    ]
    return drain_batches(entries, PUT_EVENTS_LIMIT, put, what=f"{what} (bus {bus_name})", backoff=backoff)
