"""Campaign delivery channels: webhook, email (SES), Discord, Telegram and XMTP behind one call.

    outcome = deliver(message, get_channels_config())

deliver() picks the channel's adapter, waits for that channel's rate limiter, and retries transient
errors a few times in-process through shared.retry (exponential backoff with jitter, a Retry-After
as the least wait; an attempt starts only if it can finish, timeout included, within
config.retry.max_total_s, so one delivery takes at most about max_total_s plus the rate limiter's
max_wait_s). It returns
a DeliveryOutcome ("delivered", or "failed" for a permanent failure, which includes a destination the
egress guard refuses: shared.egress) or raises
TransientDeliveryError once the retries are spent, so the sender reports the SQS record as failed:
SQS redelivers it and, after maxReceiveCount, the DLQ keeps it. ChannelNotConfigured (a missing or
refused secret, no sender address) is raised at once, without in-process retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shared.channels import discord, email, telegram, webhook, xmtp
from shared.channels.base import (
    Channel,
    ChannelNotConfigured,
    DeliveryOutcome,
    Message,
    NoCapacity,
    TransientDeliveryError,
)
from shared.channels.config import ChannelsConfig, RetrySettings, get_channels_config, load_channels_config
from shared.channels.ratelimit import LIMITERS
from shared.channels.render import render, validate_template
from shared.egress import EgressRefused
from shared.retry import call_with_retry

__all__ = [
    "Channel",
    "ChannelNotConfigured",
    "ChannelsConfig",
    "DeliveryOutcome",
    "Message",
    "TransientDeliveryError",
    "backoff_delay",
    "deliver",
    "get_channels_config",
    "load_channels_config",
    "render",
    "validate_template",
]

logger = logging.getLogger("kith.channels")

Adapter = Callable[[Message, ChannelsConfig], DeliveryOutcome]
ADAPTERS: dict[Channel, Adapter] = {
    Channel.WEBHOOK: webhook.send,
    Channel.EMAIL: email.send,
    Channel.DISCORD: discord.send,
    Channel.TELEGRAM: telegram.send,
    Channel.XMTP: xmtp.send,
}


def backoff_delay(attempt: int, retry: RetrySettings, retry_after: float | None = None) -> float:
    """Seconds deliver() waits after failed attempt number `attempt` (1-based), by shared.retry's policy.

    Half of the delay is random, so senders that failed together do not retry together. A provider's
    Retry-After is a floor: retrying sooner only earns another 429.
    """
    return retry.backoff().delay(attempt - 1, retry_after)


def _worth_retrying(exc: Exception) -> bool:
    return isinstance(exc, TransientDeliveryError) and not isinstance(exc, ChannelNotConfigured | NoCapacity)


def deliver(
    message: Message,
    config: ChannelsConfig,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryOutcome:
    adapter = ADAPTERS[message.channel]
    rate, burst = config.instance_rate(message.channel)
    bucket = LIMITERS.get(message.channel, rate, burst)
    settings = config.for_channel(message.channel)
    max_wait = settings.rate_limit.max_wait_s
    attempts = 0

    def attempt() -> DeliveryOutcome:
        nonlocal attempts
        attempts += 1
        if not bucket.acquire(timeout=max_wait):
            raise NoCapacity(
                f"{message.channel} rate limit: no capacity within {max_wait:g} s", retry_after=bucket.wait_time()
            )
        try:
            outcome = adapter(message, config)
        except EgressRefused as exc:
            # the same answer whether or not anything listens there: no oracle for probing internal hosts
            logger.warning("send %s on %s refused: %s", message.send_id, message.channel, exc)
            return DeliveryOutcome.failed(f"the {message.channel} destination is not allowed: {exc}")
        if outcome.status == "failed":
            logger.warning("send %s on %s failed: %s", message.send_id, message.channel, outcome.detail)
        return outcome

    def note_retry(_: int, exc: Exception) -> None:
        logger.info("send %s on %s: %s; retrying", message.send_id, message.channel, exc)

    try:
        return call_with_retry(
            attempt,
            retryable=_worth_retrying,
            backoff=config.retry.backoff(),
            on_retry=note_retry,
            sleep=sleep,
            attempt_takes_s=settings.timeout_s,
        )
    except ChannelNotConfigured as exc:
        logger.error("channel %s not configured: %s", message.channel, exc.detail)
        raise
    except NoCapacity:
        raise
    except TransientDeliveryError as exc:
        logger.warning(
            "send %s on %s still failing after %d attempts: %s", message.send_id, message.channel, attempts, exc.detail
        )
        raise
