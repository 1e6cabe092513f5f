"""Channel settings: KITH_CHANNELS (JSON) for the plain settings, secrets resolved lazily and cached.

Secrets never sit in KITH_CHANNELS, which is visible to anyone who can read the function's
configuration. Each secret has two sources, tried in order:
  <name>_parameter in KITH_CHANNELS  an SSM parameter (SecureString) read with GetParameter(WithDecryption)
                                     on first use, cached for SECRET_CACHE_SECONDS (AWS)
  an environment variable            KITH_WEBHOOK_SECRET, KITH_DISCORD_WEBHOOK_URL, KITH_TELEGRAM_BOT_TOKEN,
                                     KITH_XMTP_TOKEN (the local cloud)
A channel whose secret has neither is not configured: delivering on it raises ChannelNotConfigured.
Secret values are held as pydantic SecretStr and never logged or put into errors.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError

from shared.channels.base import Channel, ChannelNotConfigured
from shared.retry import Backoff
from shared.settings import ConfigError
from shared.store.dynamo import client

SECRET_CACHE_SECONDS = 300.0  # long enough to spare SSM, short enough that a rotated secret is picked up


class RateLimit(BaseModel):
    """Messages per second across the whole sender (see ChannelsConfig.sender_concurrency) and the burst."""

    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(default=10.0, gt=0)
    burst: int = Field(default=10, ge=1)
    max_wait_s: float = Field(default=5.0, ge=0)  # longer than this and the message goes back to the queue


class ChannelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate_limit: RateLimit = Field(default_factory=RateLimit)
    timeout_s: float = Field(default=5.0, gt=0)


class WebhookSettings(ChannelSettings):
    # Endpoints must be https and public (shared.egress); the local cloud opens its sink with KITH_EGRESS.
    secret_parameter: str = ""


class EmailSettings(ChannelSettings):
    rate_limit: RateLimit = Field(default_factory=lambda: RateLimit(per_second=14.0, burst=14))  # SES's default
    from_address: str = ""
    configuration_set: str = ""
    default_subject: str = "A message from the community"


class DiscordSettings(ChannelSettings):
    # Discord allows 30 messages per minute per webhook; a burst of 5 stays clear of its 429s.
    rate_limit: RateLimit = Field(default_factory=lambda: RateLimit(per_second=0.5, burst=5))
    default_webhook_url_parameter: str = ""


class TelegramSettings(ChannelSettings):
    # Telegram's bots FAQ: about 30 messages per second to different chats.
    rate_limit: RateLimit = Field(default_factory=lambda: RateLimit(per_second=25.0, burst=25))
    bot_token_parameter: str = ""
    api_base: str = "https://api.telegram.org"


class XmtpSettings(ChannelSettings):
    gateway_url: str = ""
    token_parameter: str = ""


class RetrySettings(BaseModel):
    """In-process retries of transient errors, before the message goes back to SQS."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(default=3, ge=1, le=10)
    base_delay_s: float = Field(default=0.5, ge=0)
    max_delay_s: float = Field(default=4.0, ge=0)
    max_total_s: float = Field(default=8.0, ge=0)  # the sender's Lambda timeout must leave room for this

    def backoff(self) -> Backoff:
        # waits stay under each step (half of it random), so max_delay_s is a true cap
        return Backoff(
            attempts=self.attempts,
            base_delay=self.base_delay_s,
            max_delay=self.max_delay_s,
            jitter=(0.5, 1.0),
            max_total_s=self.max_total_s,
        )


class Secret(StrEnum):
    WEBHOOK_SECRET = "webhook secret"
    DISCORD_WEBHOOK_URL = "Discord default webhook URL"
    TELEGRAM_BOT_TOKEN = "Telegram bot token"
    XMTP_TOKEN = "XMTP gateway token"


# secret -> (the channel it belongs to, its KITH_CHANNELS parameter field, its local environment variable)
SECRET_SOURCES: dict[Secret, tuple[Channel, str, str]] = {
    Secret.WEBHOOK_SECRET: (Channel.WEBHOOK, "secret_parameter", "KITH_WEBHOOK_SECRET"),
    Secret.DISCORD_WEBHOOK_URL: (Channel.DISCORD, "default_webhook_url_parameter", "KITH_DISCORD_WEBHOOK_URL"),
    Secret.TELEGRAM_BOT_TOKEN: (Channel.TELEGRAM, "bot_token_parameter", "KITH_TELEGRAM_BOT_TOKEN"),
    Secret.XMTP_TOKEN: (Channel.XMTP, "token_parameter", "KITH_XMTP_TOKEN"),
}


class ChannelsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    xmtp: XmtpSettings = Field(default_factory=XmtpSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    # Each sender instance holds its own token buckets, so the configured rates are divided by the
    # number of instances that can run at once (the sender's reserved concurrency / SQS maximum concurrency).
    sender_concurrency: int = Field(default=1, ge=1)

    _local_secrets: dict[Secret, SecretStr] = PrivateAttr(default_factory=dict)

    def for_channel(self, channel: Channel) -> ChannelSettings:
        settings: ChannelSettings = getattr(self, channel.value)
        return settings

    def instance_rate(self, channel: Channel) -> tuple[float, int]:
        """(messages per second, burst) for one sender instance."""
        limit = self.for_channel(channel).rate_limit
        return limit.per_second / self.sender_concurrency, max(1, limit.burst // self.sender_concurrency)

    def secret(self, which: Secret) -> str:
        """The secret's value: from SSM when its parameter is named, else from the local environment."""
        channel, field, variable = SECRET_SOURCES[which]
        parameter: str = getattr(self.for_channel(channel), field)
        if parameter:
            return SECRETS.get(parameter)
        local = self._local_secrets.get(which)
        if local is not None and local.get_secret_value():
            return local.get_secret_value()
        raise ChannelNotConfigured(
            f"the {which} is not configured: set {channel.value}.{field} in KITH_CHANNELS to an SSM parameter "
            f"name (AWS) or the {variable} environment variable (local)"
        )

    def has_secret(self, which: Secret) -> bool:
        channel, field, _ = SECRET_SOURCES[which]
        return bool(getattr(self.for_channel(channel), field)) or which in self._local_secrets


class SecretCache:
    """SSM SecureString values by parameter name, fetched on first use and kept for `ttl_s`."""

    def __init__(self, ttl_s: float = SECRET_CACHE_SECONDS) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, SecretStr]] = {}

    def get(self, parameter: str) -> str:
        with self._lock:
            cached = self._values.get(parameter)
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1].get_secret_value()
        value = _read_parameter(parameter)
        with self._lock:
            self._values[parameter] = (time.monotonic(), SecretStr(value))
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


SECRETS = SecretCache()


def _read_parameter(parameter: str) -> str:
    try:
        answer = client("ssm").get_parameter(Name=parameter, WithDecryption=True)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("ParameterNotFound", "ParameterVersionNotFound"):
            raise ChannelNotConfigured(
                f"SSM parameter {parameter} does not exist: create it as a SecureString"
            ) from None
        if code in ("AccessDeniedException", "AccessDenied"):
            raise ChannelNotConfigured(
                f"reading SSM parameter {parameter} was denied: grant ssm:GetParameter (and kms:Decrypt)"
            ) from None
        raise ChannelNotConfigured(f"SSM GetParameter {parameter} failed ({code}); retry later") from None
    except BotoCoreError as exc:
        raise ChannelNotConfigured(f"SSM GetParameter {parameter} failed ({type(exc).__name__})") from None
    value: str = answer["Parameter"]["Value"]
    return value


def load_channels_config(environ: Mapping[str, str] | None = None) -> ChannelsConfig:
    """ChannelsConfig from KITH_CHANNELS (JSON, optional) plus the local secret variables; SSM is read later."""
    env = os.environ if environ is None else environ
    raw = env.get("KITH_CHANNELS", "").strip()
    try:
        parsed = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"KITH_CHANNELS is not valid JSON ({exc.msg} at char {exc.pos})") from None
    try:
        config = ChannelsConfig.model_validate(parsed)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"KITH_CHANNELS {where}: {first['msg']}") from None
    for which, (_, _, variable) in SECRET_SOURCES.items():
        if env.get(variable):
            config._local_secrets[which] = SecretStr(env[variable])
    return config


@lru_cache(maxsize=1)
def get_channels_config() -> ChannelsConfig:
    """The process's configuration, read once (tests call get_channels_config.cache_clear())."""
    return load_channels_config()
