"""KITH_CHANNELS parsing and the local secret sources (pure; SSM is covered in integration)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared.channels.base import Channel, ChannelNotConfigured
from shared.channels.config import Secret, load_channels_config
from shared.settings import ConfigError


def test_defaults_need_no_environment() -> None:
    config = load_channels_config({})
    assert config.telegram.api_base == "https://api.telegram.org"
    assert config.retry.attempts == 3
    assert config.for_channel(Channel.EMAIL).rate_limit.per_second == 14.0


def test_settings_come_from_kith_channels_json() -> None:
    # Given per-channel settings in KITH_CHANNELS
    env = {
        "KITH_CHANNELS": json.dumps(
            {
                "email": {"from_address": "kith@example.com", "configuration_set": "kith"},
                "telegram": {"api_base": "http://127.0.0.1:9/telegram", "timeout_s": 2},
                "xmtp": {"gateway_url": "https://xmtp.example", "token_parameter": "/kith/xmtp"},
                "sender_concurrency": 2,
            }
        )
    }
    # When loaded
    config = load_channels_config(env)
    # Then every field lands where the adapters read it
    assert config.email.from_address == "kith@example.com"
    assert config.telegram.timeout_s == 2
    assert config.xmtp.token_parameter == "/kith/xmtp"
    assert config.has_secret(Secret.XMTP_TOKEN)
    assert config.sender_concurrency == 2


def test_local_secrets_come_from_their_environment_variables_and_stay_hidden() -> None:
    config = load_channels_config({"KITH_WEBHOOK_SECRET": "s3cr3t-value", "KITH_TELEGRAM_BOT_TOKEN": "123:abc"})
    assert config.secret(Secret.WEBHOOK_SECRET) == "s3cr3t-value"
    assert config.secret(Secret.TELEGRAM_BOT_TOKEN) == "123:abc"
    # the values never show up when the config is printed or logged
    assert "s3cr3t-value" not in repr(config) and "s3cr3t-value" not in str(config.model_dump())
    assert "123:abc" not in repr(config)


def test_a_missing_secret_says_where_to_put_it() -> None:
    config = load_channels_config({})
    with pytest.raises(ChannelNotConfigured) as raised:
        config.secret(Secret.TELEGRAM_BOT_TOKEN)
    assert "telegram.bot_token_parameter" in raised.value.detail
    assert "KITH_TELEGRAM_BOT_TOKEN" in raised.value.detail


def test_invalid_json_is_reported_with_the_variable_name() -> None:
    with pytest.raises(ConfigError, match="KITH_CHANNELS is not valid JSON"):
        load_channels_config({"KITH_CHANNELS": "{nope"})


@pytest.mark.parametrize(
    ("channels", "where"),
    [
        ({"telegram": {"bot_token": "123:abc"}}, "telegram.bot_token"),  # a secret pasted in by mistake
        ({"webhook": {"rate_limit": {"per_second": 0}}}, "webhook.rate_limit.per_second"),
        ({"sender_concurrency": 0}, "sender_concurrency"),
    ],
)
def test_bad_settings_name_the_field(channels: dict, where: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_channels_config({"KITH_CHANNELS": json.dumps(channels)})
    assert where in str(raised.value)
    assert "123:abc" not in str(raised.value)


def test_the_documented_example_is_a_valid_configuration() -> None:
    # Given the KITH_CHANNELS example in docs/channels.md
    doc = Path(__file__).resolve().parents[2] / "docs" / "channels.md"
    block = re.search(r"```json\n(.*?)```", doc.read_text(), re.DOTALL)
    assert block is not None
    # When loaded, Then every documented field is accepted
    config = load_channels_config({"KITH_CHANNELS": block.group(1)})
    assert config.sender_concurrency == 4
    assert config.telegram.bot_token_parameter == "/kith/channels/telegram-bot-token"
