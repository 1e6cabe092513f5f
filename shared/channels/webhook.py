"""Signed webhooks: a JSON POST with HMAC-SHA256 signatures over a timestamp and the raw body.

Every endpoint (URL) has its own secret, derived from the deployment's webhook secret and the URL:
one receiver's secret cannot sign for another, and a message captured at one endpoint does not verify
at another. GET /campaigns/{id}/webhook-secret gives it, in Standard Webhooks' `whsec_<base64>` form.

    Kith-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<raw body>")>
    Kith-Delivery-Id: <send_id>            the same on every retry: receivers dedupe on it
    webhook-id, webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<t>.<raw body>")>
                                           Standard Webhooks (standardwebhooks.com): its libraries verify them

`key` is the secret's decoded bytes. Signing the timestamp with the body lets receivers reject replays
older than a tolerance (5 minutes); docs/webhooks.md has the receiver's side and verification snippets.
"""

from __future__ import annotations

import base64
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
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
_ENDPOINT_LABEL = b"kith webhook endpoint\x00"
DELIVERY_ID_HEADER = "Kith-Delivery-Id"
USER_AGENT = "Kith-Webhooks/1"
DEFAULT_TOLERANCE_S = 300


def endpoint_key(deployment_secret: str, url: str) -> bytes:
    """The signing key of one endpoint: HMAC of its URL under the deployment's webhook secret."""
    return hmac.new(deployment_secret.encode(), _ENDPOINT_LABEL + url.encode(), hashlib.sha256).digest()


def endpoint_secret(config: ChannelsConfig, url: str) -> str:
    """The endpoint's secret as its receiver configures it: whsec_<base64 key>."""
    return SECRET_PREFIX + base64.b64encode(endpoint_key(config.secret(Secret.WEBHOOK_SECRET), url)).decode()


def key_bytes(secret: bytes | str) -> bytes:
    """A secret in whsec_ form decoded to its key; any other text or bytes used as they are."""
    if isinstance(secret, bytes):
        return secret
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    return secret.encode()


def standard_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks webhook-signature header value."""
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


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
    key = key_bytes(secret)
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
    key = endpoint_key(config.secret(Secret.WEBHOOK_SECRET), message.destination)
    sent_at = int(time.time())
    raw = json_bytes(payload(message, sent_at))
    # Standard Webhooks ids must be unique per message and stable across retries; send ids contain ':'
    message_id = "msg_" + hashlib.sha256(message.send_id.encode()).hexdigest()[:32]
    response = post_json(
        message.destination,
        what="the webhook endpoint",
        timeout=settings.timeout_s,
        raw_body=raw,
        headers={
            SIGNATURE_HEADER: sign(key, sent_at, raw),
            DELIVERY_ID_HEADER: message.send_id,
            STANDARD_ID_HEADER: message_id,
            STANDARD_TIMESTAMP_HEADER: str(sent_at),
            STANDARD_SIGNATURE_HEADER: standard_signature(key, message_id, sent_at, raw),
            "User-Agent": USER_AGENT,
        },
    )
    return classify_status(
        response.status_code, "the webhook endpoint", parse_retry_after(response.headers.get("Retry-After"))
    )
