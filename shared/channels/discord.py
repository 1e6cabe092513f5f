"""Discord through an incoming webhook: POST {"content", "allowed_mentions"} to the webhook URL with ?wait=true.

Discord webhooks post into a channel; they cannot message a user directly. Every message goes to the
configured default webhook (an operator's secret), and the destination, a contact's Discord, is either
  a user id (a numeric snowflake)   mentioning <@id>; only that user is pinged
  a handle (any other text)         prefixed with the handle; nobody is pinged
A destination that looks like a URL is refused: contacts are written by API keys and CSV rows, and a
URL there would let them aim the sender at any host (the egress guard would refuse internal ones too).
allowed_mentions never lets @everyone, @here or role mentions through, whatever the body says.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from shared.channels.base import (
    ChannelNotConfigured,
    DeliveryOutcome,
    Message,
    TransientDeliveryError,
    classify_status,
    parse_retry_after,
    post_json,
    response_json,
)
from shared.channels.config import ChannelsConfig, Secret
from shared.channels.render import escape_discord

MAX_CONTENT_CHARS = 2000
_USER_ID = re.compile(r"^\d{15,21}$")
_WHAT = "Discord"


def with_wait(url: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode({'wait': 'true'})}" if parts.query else urlencode({"wait": "true"})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class DestinationRefused(ValueError):
    """The destination is not a Discord handle or user id."""


def request_for(message: Message, config: ChannelsConfig) -> tuple[str, dict[str, Any]]:
    """(the default webhook's URL, JSON payload) for the message's destination."""
    destination = message.destination.strip()
    if "://" in destination or destination.lower().startswith(("http:", "https:", "//")):
        raise DestinationRefused("a Discord destination is a handle or a user id, never a URL")
    url = config.secret(Secret.DISCORD_WEBHOOK_URL)
    user_id = destination.removeprefix("<@").removesuffix(">").lstrip("!")
    if _USER_ID.match(user_id):
        mention = {"parse": [], "users": [user_id]}
        return url, {"content": f"<@{user_id}> {message.body}", "allowed_mentions": mention}
    handle = escape_discord(destination.lstrip("@"))
    return url, {"content": f"@{handle} {message.body}", "allowed_mentions": {"parse": []}}


def send(message: Message, config: ChannelsConfig) -> DeliveryOutcome:
    if not message.destination.strip():
        return DeliveryOutcome.failed("no Discord destination (webhook URL, user id or handle)")
    try:
        url, payload = request_for(message, config)
    except DestinationRefused as exc:
        return DeliveryOutcome.failed(str(exc))
    if urlsplit(url).scheme.lower() not in ("https", "http") or not urlsplit(url).netloc:
        raise ChannelNotConfigured("the default Discord webhook URL is not a valid URL: fix its secret")
    if len(payload["content"]) > MAX_CONTENT_CHARS:
        return DeliveryOutcome.failed(
            f"the message has {len(payload['content'])} characters; Discord allows {MAX_CONTENT_CHARS}"
        )
    response = post_json(with_wait(url), what=_WHAT, timeout=config.discord.timeout_s, payload=payload)
    answer = response_json(response)
    if response.status_code == 429:
        hint = answer.get("retry_after")
        retry_after = float(hint) if isinstance(hint, int | float) else None
        if retry_after is None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise TransientDeliveryError("Discord is rate limiting this webhook (429)", retry_after=retry_after)
    if response.status_code in (401, 403, 404):
        # the community channel's own webhook is gone or its token is wrong: every message would fail alike
        raise ChannelNotConfigured(f"Discord refused the default webhook ({response.status_code}): replace its URL")
    outcome = classify_status(response.status_code, _WHAT, parse_retry_after(response.headers.get("Retry-After")))
    if outcome.status == "delivered":
        message_id = answer.get("id")
        return DeliveryOutcome.delivered("Discord accepted the message", str(message_id) if message_id else None)
    reason = answer.get("message")
    if isinstance(reason, str) and reason:
        return DeliveryOutcome.failed(f"Discord answered {response.status_code}: {reason}")
    return outcome
