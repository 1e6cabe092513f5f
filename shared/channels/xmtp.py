"""XMTP through the team's XMTP gateway (XMTP has no HTTP API of its own; docs/channels.md has the contract).

Request: POST {gateway_url}/v1/messages with JSON {"id", "to", "content", "content_type": "text"}
and the headers Authorization: Bearer <token> and Idempotency-Key: <send_id>. Answers:
  2xx {"message_id"}   delivered (a replayed Idempotency-Key answers the first message_id)
  404, 422             failed: the recipient is not on the XMTP network
  401, 403             the token is wrong: every message would fail alike (ChannelNotConfigured)
  408, 429, 5xx        transient (Retry-After honoured)
"""

from __future__ import annotations

import re

from shared.channels.base import (
    ChannelNotConfigured,
    DeliveryOutcome,
    Message,
    classify_status,
    parse_retry_after,
    post_json,
    response_json,
)
from shared.channels.config import ChannelsConfig, Secret

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_WHAT = "the XMTP gateway"


def send(message: Message, config: ChannelsConfig) -> DeliveryOutcome:
    settings = config.xmtp
    if not settings.gateway_url:
        raise ChannelNotConfigured("xmtp.gateway_url is not set in KITH_CHANNELS")
    recipient = (message.destination or message.address).strip().lower()
    if not _ADDRESS.match(recipient):
        return DeliveryOutcome.failed("the XMTP recipient is not a 0x wallet address")
    headers = {"Idempotency-Key": message.send_id}
    if config.has_secret(Secret.XMTP_TOKEN):
        headers["Authorization"] = f"Bearer {config.secret(Secret.XMTP_TOKEN)}"
    response = post_json(
        f"{settings.gateway_url.rstrip('/')}/v1/messages",
        what=_WHAT,
        timeout=settings.timeout_s,
        payload={"id": message.send_id, "to": recipient, "content": message.body, "content_type": "text"},
        headers=headers,
    )
    status = response.status_code
    if status in (404, 422):
        return DeliveryOutcome.failed("the recipient is not on the XMTP network")
    if status in (401, 403):
        raise ChannelNotConfigured(f"{_WHAT} refused the token ({status}): check the token's secret")
    outcome = classify_status(status, _WHAT, parse_retry_after(response.headers.get("Retry-After")))
    if outcome.status == "delivered":
        message_id = response_json(response).get("message_id")
        return DeliveryOutcome.delivered(
            "the XMTP gateway accepted the message", str(message_id) if message_id else None
        )
    return outcome
