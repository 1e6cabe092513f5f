"""Sending many SQS messages: batches of ten, with the failed entries of each batch retried."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.retry import STORE, Backoff, drain
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
    made = 0

    def send(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        nonlocal made
        made += 1
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        failed = {f["Id"] for f in answer.get("Failed", [])}
        return [e for e in entries if e["Id"] in failed]

    for start in range(0, len(bodies), SQS_BATCH_LIMIT):
        chunk = bodies[start : start + SQS_BATCH_LIMIT]
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)]
        drain(entries, send, done=lambda left: not left, what=f"{what} ({queue_url})", backoff=backoff)
    return made
