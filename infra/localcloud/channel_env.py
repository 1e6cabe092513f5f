"""The environment that points every campaign channel at the local sinks, and email at moto's SES."""

from __future__ import annotations

import json
import os

import boto3
from botocore.exceptions import ClientError

LOCAL_EMAIL_FROM = "campaigns@kith.example.com"
LOCAL_DISCORD_WEBHOOK_ID = "100000000000000001"
LOCAL_DISCORD_TOKEN = "local-discord-token"
LOCAL_TELEGRAM_TOKEN = "local-telegram-token"
LOCAL_XMTP_TOKEN = "local-xmtp-token"
LOCAL_EGRESS = json.dumps({"allow_http": True, "allow_networks": ["127.0.0.0/8"]})


def local_channels_env(sink_base_url: str, webhook_secret: str) -> dict[str, str]:
    """Environment variables that point every channel at the sink (and email at moto's SES).

    Rates are high locally: the sink is not Discord, and a demo campaign should not take minutes.
    Call prepare_local_email(moto endpoint) once so moto accepts LOCAL_EMAIL_FROM as a sender.
    """
    base = sink_base_url.rstrip("/")
    fast = {"per_second": 200.0, "burst": 200}
    channels = {
        "webhook": {"rate_limit": fast},
        "email": {"from_address": LOCAL_EMAIL_FROM, "rate_limit": fast},
        "discord": {"rate_limit": fast},
        "telegram": {"api_base": f"{base}/telegram", "rate_limit": fast},
        "xmtp": {"gateway_url": f"{base}/xmtp", "rate_limit": fast},
    }
    return {
        "KITH_CHANNELS": json.dumps(channels),
        # the sinks and the chains listen on 127.0.0.1 over plain http; nothing else local is opened
        "KITH_EGRESS": LOCAL_EGRESS,
        # the test suites fuzz and page the API hard from one key; AWS keeps the default budget
        "KITH_API": json.dumps({"units_per_minute": 20_000}),
        "KITH_WEBHOOK_SECRET": webhook_secret,
        "KITH_DISCORD_WEBHOOK_URL": f"{base}/discord/{LOCAL_DISCORD_WEBHOOK_ID}/{LOCAL_DISCORD_TOKEN}",
        "KITH_TELEGRAM_BOT_TOKEN": LOCAL_TELEGRAM_TOKEN,
        "KITH_XMTP_TOKEN": LOCAL_XMTP_TOKEN,
    }


def prepare_local_email(endpoint: str, from_address: str = LOCAL_EMAIL_FROM, region: str | None = None) -> None:
    """Make moto's SES accept `from_address` as a sender (SES, and moto, refuse unverified identities).

    moto keeps identities per region: use the region the sender runs in (AWS_DEFAULT_REGION by default).
    """
    region = region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    ses = boto3.client("sesv2", endpoint_url=endpoint, region_name=region)
    try:
        ses.create_email_identity(EmailIdentity=from_address)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "AlreadyExistsException":
            raise
