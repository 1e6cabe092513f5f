"""What every channel adapter shares: the message, the outcome, the transient error, and HTTP classification.

An adapter answers one of three ways, and the sender treats each differently:
  DeliveryOutcome("delivered")  the provider accepted the message
  DeliveryOutcome("failed")     it never will (a 4xx, an invalid destination): record it, do not retry
  TransientDeliveryError        it may later (5xx, 408, 429, timeouts): retry, then let SQS redeliver
Details never carry URLs, tokens or addresses: provider URLs embed secrets (Telegram's bot token,
Discord's webhook token) and recipients are personal data.
"""

from __future__ import annotations

import email.utils
import json
import time
from enum import StrEnum
from typing import Any, Literal

import requests
from pydantic import BaseModel, Field

from shared.egress import EgressRefused, guarded_session
from shared.retry import RetryAfterHint

MAX_DETAIL_CHARS = 200


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"
    DISCORD = "discord"
    TELEGRAM = "telegram"
    XMTP = "xmtp"


class Message(BaseModel):
    """One rendered message to one recipient."""

    send_id: str  # unique per (campaign, wallet): the idempotency key every provider sees
    campaign_id: str
    address: str
    channel: Channel
    destination: str
    subject: str | None = None
    body: str
    data: dict[str, Any] = Field(default_factory=dict)


class DeliveryOutcome(BaseModel):
    status: Literal["delivered", "failed"]
    detail: str
    provider_id: str | None = None

    @classmethod
    def delivered(cls, detail: str, provider_id: str | None = None) -> DeliveryOutcome:
        return cls(status="delivered", detail=short(detail), provider_id=provider_id)

    @classmethod
    def failed(cls, detail: str) -> DeliveryOutcome:
        return cls(status="failed", detail=short(detail))


class TransientDeliveryError(RetryAfterHint):
    """Worth retrying later; `retry_after` is the provider's own hint in seconds, when it gave one."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(short(detail))
        self.detail = short(detail)
        self.retry_after = retry_after


class ChannelNotConfigured(TransientDeliveryError):
    """Every message on this channel would fail the same way until an operator fixes its configuration
    (a missing or rejected secret, no sender address). Retrying in-process is pointless; SQS redelivery
    then the DLQ keeps the messages for a redrive once it is fixed."""


class NoCapacity(TransientDeliveryError):
    """The channel's rate limiter had no token within its wait: retrying in-process would only queue
    behind the same limiter, so the message goes back to SQS at once."""


def short(detail: str) -> str:
    return detail if len(detail) <= MAX_DETAIL_CHARS else detail[: MAX_DETAIL_CHARS - 1] + "…"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header (delta seconds or an HTTP date) as seconds from now; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_status(status: int, what: str, retry_after: float | None = None) -> DeliveryOutcome:
    """The common HTTP verdict: 2xx delivered; 408, 429 and 5xx transient (raised); anything else failed.

    Redirects are never followed (a receiver that moved must be reconfigured, and following one would
    replay a signed body to an address nobody chose), so 3xx is a permanent failure too.
    """
    if 200 <= status < 300:
        return DeliveryOutcome.delivered(f"{what} answered {status}")
    if status in (408, 429) or status >= 500:
        raise TransientDeliveryError(f"{what} answered {status}", retry_after=retry_after)
    if 300 <= status < 400:
        return DeliveryOutcome.failed(f"{what} answered a redirect ({status}); redirects are not followed")
    return DeliveryOutcome.failed(f"{what} answered {status}")


_session = guarded_session(pool_connections=16, pool_maxsize=32)


def post_json(
    url: str,
    *,
    what: str,
    timeout: float,
    payload: Any = None,
    raw_body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """POST JSON through the egress guard, without following redirects; network failures become
    TransientDeliveryError, and a destination the guard refuses raises EgressRefused (a permanent failure).

    `what` names the receiver in errors instead of the URL, because provider URLs carry secrets.
    requests' own exception messages quote the URL, so they are dropped (`from None`): a chained
    exception would print them in the traceback that lands in the logs.
    """
    body = raw_body if raw_body is not None else json_bytes(payload)
    sent_headers = {"Content-Type": "application/json", **(headers or {})}
    try:
        return _session.post(url, data=body, headers=sent_headers, timeout=timeout, allow_redirects=False)
    except EgressRefused:
        raise
    except requests.Timeout:
        raise TransientDeliveryError(f"{what} did not answer within {timeout:g} s") from None
    except requests.ConnectionError:
        raise TransientDeliveryError(f"{what} could not be reached (connection failed)") from None
    except requests.RequestException as exc:
        raise TransientDeliveryError(f"{what} request failed ({type(exc).__name__})") from None


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def response_json(response: requests.Response) -> dict[str, Any]:
    try:
        parsed = response.json()
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
