"""Telegram through the Bot API: POST {api_base}/bot<token>/sendMessage with parse_mode=HTML.

The bot token sits in the URL path, so the URL never appears in an outcome, an error or a log line.
Telegram answers {"ok": false, "error_code", "description", "parameters": {"retry_after"}} on errors:
  429, 5xx           transient (retry_after honoured)
  401, 404           the token or api_base is wrong: every message would fail alike (ChannelNotConfigured)
  400, 403, other    failed: chat not found, the user blocked the bot, a malformed message
"""

from __future__ import annotations

from shared.channels.base import (
    ChannelNotConfigured,
    DeliveryOutcome,
    Message,
    TransientDeliveryError,
    parse_retry_after,
    post_json,
    response_json,
    short,
)
from shared.channels.config import ChannelsConfig, Secret

MAX_TEXT_CHARS = 4096
_WHAT = "Telegram"


def send(message: Message, config: ChannelsConfig) -> DeliveryOutcome:
    settings = config.telegram
    chat_id = message.destination.strip()
    if not chat_id:
        return DeliveryOutcome.failed("no Telegram chat id")
    if len(message.body) > MAX_TEXT_CHARS:
        return DeliveryOutcome.failed(f"the message has {len(message.body)} characters; Telegram allows 4096")
    token = config.secret(Secret.TELEGRAM_BOT_TOKEN)
    url = f"{settings.api_base.rstrip('/')}/bot{token}/sendMessage"
    payload = {"chat_id": chat_id, "text": message.body, "parse_mode": "HTML", "disable_web_page_preview": True}
    response = post_json(url, what=_WHAT, timeout=settings.timeout_s, payload=payload)
    answer = response_json(response)
    error_code = answer.get("error_code")
    code = error_code if isinstance(error_code, int) else response.status_code
    description = _description(answer, token)
    if answer.get("ok") is True and 200 <= response.status_code < 300:
        result = answer.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return DeliveryOutcome.delivered("Telegram accepted the message", _text_or_none(message_id))
    if code == 429 or code == 408 or code >= 500:
        parameters = answer.get("parameters")
        hint = parameters.get("retry_after") if isinstance(parameters, dict) else None
        retry_after = float(hint) if isinstance(hint, int | float) else None
        if retry_after is None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise TransientDeliveryError(f"Telegram answered {code}{description}", retry_after=retry_after)
    if code in (401, 404):
        # chat problems are 400/403; 401/404 mean the token (or api_base) is wrong for every chat
        raise ChannelNotConfigured(f"Telegram refused the bot token ({code}): check the token's secret and api_base")
    if 300 <= response.status_code < 400:
        return DeliveryOutcome.failed(f"Telegram answered a redirect ({response.status_code}); check api_base")
    return DeliveryOutcome.failed(f"Telegram answered {code}{description}")


def _description(answer: dict[str, object], token: str) -> str:
    text = answer.get("description")
    if not isinstance(text, str) or not text:
        return ""
    return ": " + short(text.replace(token, "***"))


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)
