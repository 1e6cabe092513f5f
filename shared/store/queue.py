"""Sending many SQS messages: batches of ten, with the failed entries of each batch retried."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.retry import STORE, Backoff, drain_batches
from shared.store import dynamo

SQS_BATCH_LIMIT = 10


def send_batch(queue_url: str, bodies: Sequence[str], *, what: str, backoff: Backoff = STORE) -> int:
    """Send each body as one message; returns the SendMessageBatch requests made.

    Raises RetriesExhausted naming `what` when SQS keeps refusing entries, so a caller never records
    as queued what was not.
    """
    if not queue_url:
        raise ValueError(f"{what}: no queue URL is configured")
    sqs = dynamo.client("sqs")

    def send(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        failed = {f["Id"] for f in answer.get("Failed", [])}
        return [e for e in entries if e["Id"] in failed]

    # an Id needs to be unique within its batch only
    entries = [{"Id": str(i % SQS_BATCH_LIMIT), "MessageBody": body} for i, body in enumerate(bodies)]
    return drain_batches(entries, SQS_BATCH_LIMIT, send, what=f"{what} ({queue_url})", backoff=backoff)
