"""Signed webhooks: a JSON POST with an HMAC-SHA256 signature over a timestamp and the raw body.

    Kith-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
    Kith-Delivery-Id: <send_id>            the same on every retry: receivers dedupe on it

Signing the timestamp with the body lets receivers reject replays older than a tolerance (5 minutes);
docs/webhooks.md has the receiver's side and a stdlib-only verification snippet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time

from shared.channels.base import (
    DeliveryOutcome,
    Message,
    classify_status,
    json_bytes,
    parse_retry_after,
    post_json,
)
from shared.channels.config import ChannelsConfig, Secret
from shared.egress import EgressRefused, check_url

SIGNATURE_HEADER = "Kith-Signature"
DELIVERY_ID_HEADER = "Kith-Delivery-Id"
USER_AGENT = "Kith-Webhooks/1"
DEFAULT_TOLERANCE_S = 300


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The Kith-Signature header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    secret: bytes | str,
    header: str | None,
    body: bytes,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when `header` signs exactly `body` with `secret` and its timestamp is within `tolerance_s` of now.

    Several v1 entries are accepted (any may match), so a sender can sign with an old and a new
    secret while a rotation is under way.
    """
    if not header:
        return False
    key = secret.encode() if isinstance(secret, str) else secret
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = sign(key, timestamp, body).split("v1=", 1)[1]
    # compare every candidate, so the time taken does not depend on which one matched
    matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    return any(matches)


def payload(message: Message, sent_at: int) -> dict[str, object]:
    return {
        "id": message.send_id,
        "campaign_id": message.campaign_id,
        "address": message.address,
        "subject": message.subject,
        "body": message.body,
        "data": message.data,
        "sent_at": dt.datetime.fromtimestamp(sent_at, tz=dt.UTC).isoformat().replace("+00:00", "Z"),
    }


def send(message: Message, config: ChannelsConfig) -> DeliveryOutcome:
    settings = config.webhook
    try:
        check_url(message.destination)
    except EgressRefused as exc:
        return DeliveryOutcome.failed(f"the campaign's webhook endpoint {exc}")
    secret = config.secret(Secret.WEBHOOK_SECRET).encode()
    sent_at = int(time.time())
    raw = json_bytes(payload(message, sent_at))
    response = post_json(
        message.destination,
        what="the webhook endpoint",
        timeout=settings.timeout_s,
        raw_body=raw,
        headers={
            SIGNATURE_HEADER: sign(secret, sent_at, raw),
            DELIVERY_ID_HEADER: message.send_id,
            "User-Agent": USER_AGENT,
        },
    )
    return classify_status(
        response.status_code, "the webhook endpoint", parse_retry_after(response.headers.get("Retry-After"))
    )
