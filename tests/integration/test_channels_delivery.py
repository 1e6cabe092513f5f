"""Every channel adapter against the local sinks over real HTTP, and email through moto's real SES."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from infra.localcloud.sinks import (
    LOCAL_EMAIL_FROM,
    LOCAL_TELEGRAM_TOKEN,
    LocalSinks,
    local_channels_env,
    prepare_local_email,
)
from shared.channels import ChannelNotConfigured, Message, TransientDeliveryError, deliver
from shared.channels.base import Channel
from shared.channels.config import SECRETS, ChannelsConfig, load_channels_config
from shared.channels.ratelimit import LIMITERS
from shared.channels.render import render

pytestmark = pytest.mark.integration

SECRET = "whsec-integration-secret"
WALLET = "0x5aeda56215b167893e80b4fe645ba6d5bab767de"


@pytest.fixture
def sinks(tmp_path: Path, moto_endpoint: str) -> Iterator[LocalSinks]:
    with LocalSinks(webhook_secret=SECRET, state_dir=tmp_path / "sinks", moto_endpoint=moto_endpoint) as running:
        yield running


@pytest.fixture
def make_config(
    sinks: LocalSinks, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ChannelsConfig]:
    """The local channel environment, with retries fast enough for tests and any settings overridden."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    LIMITERS.reset()
    SECRETS.clear()

    def make(environment: dict[str, str] | None = None, **overrides: Any) -> ChannelsConfig:
        env = {**local_channels_env(sinks.url, SECRET), **(environment or {})}
        channels = json.loads(env["KITH_CHANNELS"])
        channels["retry"] = {"attempts": 3, "base_delay_s": 0.01, "max_delay_s": 0.05, "max_total_s": 10}
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(channels.get(key), dict):
                channels[key] = {**channels[key], **value}
            else:
                channels[key] = value
        env["KITH_CHANNELS"] = json.dumps(channels)
        return load_channels_config(env)

    return make


def message(channel: Channel, destination: str, body: str = "gm", **extra: Any) -> Message:
    send_id = f"camp-1#{uuid.uuid4().hex[:8]}"
    return Message(
        send_id=send_id,
        campaign_id="camp-1",
        address=WALLET,
        channel=channel,
        destination=destination,
        body=body,
        **extra,
    )


# ---------------------------------------------------------------------------- webhook


def test_webhook_delivers_a_signed_json_post(sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]) -> None:
    # Given a campaign webhook pointing at the sink
    sent = message(
        Channel.WEBHOOK, sinks.webhook_url("crm"), subject="Hello", data={"score": 42.5, "labels": ["voter"]}
    )
    # When it is delivered
    outcome = deliver(sent, make_config())
    # Then the sink received it once, signed with the shared secret, with the documented payload and headers
    assert outcome.status == "delivered"
    [record] = sinks.deliveries("/webhook/crm")
    assert record["signature_valid"] is True
    assert record["headers"]["Kith-Delivery-Id"] == sent.send_id
    assert record["headers"]["User-Agent"] == "Kith-Webhooks/1"
    assert record["headers"]["Content-Type"] == "application/json"
    body = record["body"]
    assert {k: body[k] for k in ("id", "campaign_id", "address", "subject", "body", "data")} == {
        "id": sent.send_id,
        "campaign_id": "camp-1",
        "address": WALLET,
        "subject": "Hello",
        "body": "gm",
        "data": {"score": 42.5, "labels": ["voter"]},
    }
    assert body["sent_at"].endswith("Z")


def test_a_flaky_endpoint_gets_exactly_one_successful_delivery(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]
) -> None:
    # Given an endpoint that fails once with 500 and then recovers
    sinks.script("/webhook/flaky", [500, 200])
    sent = message(Channel.WEBHOOK, sinks.webhook_url("flaky"))
    # When the message is delivered
    outcome = deliver(sent, make_config())
    # Then the in-process retry landed it: two attempts, one successful delivery, same delivery id on both
    assert outcome.status == "delivered"
    attempts = sinks.deliveries("/webhook/flaky", include_failed=True)
    assert [a["status"] for a in attempts] == [500, 200]
    assert sinks.count("/webhook/flaky") == 1
    assert {a["headers"]["Kith-Delivery-Id"] for a in attempts} == {sent.send_id}
    assert all(a["signature_valid"] for a in attempts)


def test_an_endpoint_that_stays_down_raises_a_transient_error(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]
) -> None:
    # Given an endpoint that always answers 500
    sinks.script("/webhook/down", always=500)
    # When delivering, Then after the configured 3 attempts the error is raised for SQS to redeliver
    with pytest.raises(TransientDeliveryError) as raised:
        deliver(message(Channel.WEBHOOK, sinks.webhook_url("down")), make_config())
    assert "500" in raised.value.detail
    assert sinks.count("/webhook/down", include_failed=True) == 3
    assert sinks.count("/webhook/down") == 0


def test_a_400_is_a_permanent_failure_without_retries(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]
) -> None:
    sinks.script("/webhook/strict", [400])
    outcome = deliver(message(Channel.WEBHOOK, sinks.webhook_url("strict")), make_config())
    assert outcome.status == "failed"
    assert "400" in outcome.detail
    assert sinks.count("/webhook/strict", include_failed=True) == 1


def test_retry_after_is_honoured_before_the_next_attempt(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]
) -> None:
    # Given an endpoint that asks for 0.2 s of patience once
    sinks.script("/webhook/busy", [{"status": 429, "retry_after": 0.2}])
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    # When delivered
    outcome = deliver(message(Channel.WEBHOOK, sinks.webhook_url("busy")), make_config(), sleep=sleep)
    # Then the retry waited at least what the endpoint asked (the configured backoff alone is at most 0.05 s)
    assert outcome.status == "delivered"
    assert len(waits) == 1 and waits[0] >= 0.2


def test_a_retry_after_beyond_the_budget_goes_back_to_the_queue_at_once(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]
) -> None:
    sinks.script("/webhook/later", always={"status": 503, "retry_after": 120})
    with pytest.raises(TransientDeliveryError) as raised:
        deliver(message(Channel.WEBHOOK, sinks.webhook_url("later")), make_config())
    assert raised.value.retry_after == 120
    assert sinks.count("/webhook/later", include_failed=True) == 1


def test_redirects_are_not_followed(sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]) -> None:
    sinks.script("/webhook/moved", [302])
    outcome = deliver(message(Channel.WEBHOOK, sinks.webhook_url("moved")), make_config())
    assert outcome.status == "failed"
    assert "redirect" in outcome.detail
    assert sinks.count("/webhook/moved", include_failed=True) == 1


def test_a_slow_endpoint_times_out_as_transient(sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]) -> None:
    # Given an endpoint slower than the channel's timeout
    sinks.script("/webhook/slow", [{"status": 200, "delay": 1.0}])
    config = make_config(webhook={"timeout_s": 0.2}, retry={"attempts": 1})
    # When delivered, Then the timeout is a transient error that does not leak the URL
    with pytest.raises(TransientDeliveryError) as raised:
        deliver(message(Channel.WEBHOOK, sinks.webhook_url("slow")), config)
    assert "did not answer" in raised.value.detail
    assert "127.0.0.1" not in raised.value.detail


def test_connection_failures_are_transient(make_config: Callable[..., ChannelsConfig]) -> None:
    config = make_config(retry={"attempts": 1})
    with pytest.raises(TransientDeliveryError, match="could not be reached"):
        deliver(message(Channel.WEBHOOK, "http://127.0.0.1:9/webhook/nobody"), config)


def test_plain_http_endpoints_are_refused_unless_allowed(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the egress guard's default: https only, public addresses only
    monkeypatch.setenv("KITH_EGRESS", "")
    config = make_config()
    outcome = deliver(message(Channel.WEBHOOK, sinks.webhook_url("plain")), config)
    assert outcome.status == "failed"
    assert "https" in outcome.detail
    assert sinks.count("/webhook/plain", include_failed=True) == 0


def test_the_sink_flags_a_signature_made_with_another_secret(sinks: LocalSinks) -> None:
    # Given a sender whose secret differs from the receiver's
    wrong = load_channels_config(local_channels_env(sinks.url, "some-other-secret"))
    LIMITERS.reset()
    # When it delivers, Then the receiver still answers 200 but records the signature as invalid
    deliver(message(Channel.WEBHOOK, sinks.webhook_url("mismatch")), wrong)
    [record] = sinks.deliveries("/webhook/mismatch")
    assert record["signature_valid"] is False


# ---------------------------------------------------------------------------- Discord


def test_discord_posts_to_the_webhook_and_pings_nobody(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]
) -> None:
    # Given a rendered message whose value tries to ping everyone, and the community's webhook
    body = render("**Drop** for {{ name }}", {"name": "@everyone"}, Channel.DISCORD)
    config = make_config({"KITH_DISCORD_WEBHOOK_URL": f"{sinks.url}/discord/42/community-token"})
    # When delivered to a handle
    outcome = deliver(message(Channel.DISCORD, "ada", body=body), config)
    # Then Discord's answer gives the message id, mentions are disabled, and the token is not recorded
    assert outcome.status == "delivered" and outcome.provider_id
    [record] = sinks.deliveries("/discord/42/")
    assert record["path"] == "/discord/42/***"
    assert record["body"] == {"content": "@ada **Drop** for @\u200beveryone", "allowed_mentions": {"parse": []}}


def test_discord_user_ids_go_to_the_default_webhook(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]
) -> None:
    outcome = deliver(message(Channel.DISCORD, "123456789012345678"), make_config())
    assert outcome.status == "delivered"
    [record] = sinks.deliveries("/discord/")
    assert record["body"]["content"] == "<@123456789012345678> gm"
    assert record["body"]["allowed_mentions"] == {"parse": [], "users": ["123456789012345678"]}


def test_discord_rate_limits_are_transient_with_their_retry_after(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]
) -> None:
    sinks.script("/discord/42/tok", always={"status": 429, "retry_after": 30})
    config = make_config({"KITH_DISCORD_WEBHOOK_URL": f"{sinks.url}/discord/42/tok"})
    with pytest.raises(TransientDeliveryError) as raised:
        deliver(message(Channel.DISCORD, "ada"), config)
    assert raised.value.retry_after == 30


def test_a_contact_discord_url_is_refused_before_any_request(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]
) -> None:
    # Given a destination that is a URL (a contact's Discord can only be a handle or a user id)
    outcome = deliver(message(Channel.DISCORD, f"{sinks.url}/discord/42/elsewhere"), make_config())
    # Then nothing is posted anywhere
    assert outcome.status == "failed"
    assert "never a URL" in outcome.detail
    assert sinks.count("/discord/", include_failed=True) == 0


# ---------------------------------------------------------------------------- Telegram


def test_telegram_sends_html_with_the_bot_token(sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]) -> None:
    body = render("<b>gm</b> {{ name }}", {"name": "<Ada>"}, Channel.TELEGRAM)
    outcome = deliver(message(Channel.TELEGRAM, "987654321", body=body), make_config())
    assert outcome.status == "delivered" and outcome.provider_id
    [record] = sinks.deliveries("/telegram/")
    assert record["path"] == "/telegram/bot***/sendMessage"
    assert record["body"] == {
        "chat_id": "987654321",
        "text": "<b>gm</b> &lt;Ada&gt;",
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }


def test_telegram_429_is_transient_with_retry_after(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]
) -> None:
    # Given Telegram asking to wait 30 s (longer than the retry budget allows)
    sinks.script(f"/telegram/bot{LOCAL_TELEGRAM_TOKEN}/sendMessage", [{"status": 429, "retry_after": 30}])
    config = make_config()
    # When delivered, Then the error carries Telegram's retry_after and no token
    with pytest.raises(TransientDeliveryError) as raised:
        deliver(message(Channel.TELEGRAM, "987654321"), config)
    assert raised.value.retry_after == 30
    assert LOCAL_TELEGRAM_TOKEN not in raised.value.detail


@pytest.mark.parametrize(("status", "reason"), [(400, "chat not found"), (403, "blocked by the user")])
def test_telegram_chat_problems_are_permanent(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig], status: int, reason: str
) -> None:
    sinks.script(f"/telegram/bot{LOCAL_TELEGRAM_TOKEN}/sendMessage", [status])
    outcome = deliver(message(Channel.TELEGRAM, "987654321"), make_config())
    assert outcome.status == "failed"
    assert reason in outcome.detail
    assert sinks.count("/telegram/", include_failed=True) == 1


def test_a_refused_telegram_token_stops_the_channel_without_retries(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]
) -> None:
    sinks.script(f"/telegram/bot{LOCAL_TELEGRAM_TOKEN}/sendMessage", always=401)
    with pytest.raises(ChannelNotConfigured):
        deliver(message(Channel.TELEGRAM, "987654321"), make_config())
    assert sinks.count("/telegram/", include_failed=True) == 1


def test_the_telegram_token_can_come_from_ssm(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig], moto_endpoint: str
) -> None:
    # Given the bot token stored as an SSM SecureString and named in KITH_CHANNELS
    name = f"/kith/test/telegram-{uuid.uuid4().hex[:6]}"
    boto3.client("ssm", endpoint_url=moto_endpoint).put_parameter(Name=name, Value="ssm-bot-token", Type="SecureString")
    config = make_config(telegram={"bot_token_parameter": name})
    # And the bot API path for that token (only) scripted to answer 403 once
    sinks.script("/telegram/botssm-bot-token/sendMessage", [403])
    # When two messages are delivered
    first = deliver(message(Channel.TELEGRAM, "987654321"), config)
    second = deliver(message(Channel.TELEGRAM, "987654321"), config)
    # Then both requests went to the SSM token's path (the first met the script), and the value is cached
    assert (first.status, second.status) == ("failed", "delivered")
    assert SECRETS.get(name) == "ssm-bot-token"


def test_a_missing_ssm_parameter_stops_the_channel(make_config: Callable[..., ChannelsConfig]) -> None:
    config = make_config(telegram={"bot_token_parameter": "/kith/test/does-not-exist"})
    with pytest.raises(ChannelNotConfigured, match="does not exist"):
        deliver(message(Channel.TELEGRAM, "987654321"), config)


# ---------------------------------------------------------------------------- XMTP


def test_xmtp_follows_the_gateway_contract(sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]) -> None:
    sent = message(Channel.XMTP, WALLET.upper().replace("0X", "0x"), body="gm <fren>")
    config = make_config()
    # When delivered twice (as after a crash between sending and recording)
    first = deliver(sent, config)
    second = deliver(sent, config)
    # Then the gateway saw the contract's request, and the idempotency key gave back the same message
    assert first.status == second.status == "delivered"
    assert first.provider_id == second.provider_id
    record = sinks.deliveries("/xmtp/")[0]
    assert record["body"] == {"id": sent.send_id, "to": WALLET, "content": "gm <fren>", "content_type": "text"}
    assert record["headers"]["Idempotency-Key"] == sent.send_id
    assert record["headers"]["Authorization"] == "Bearer ***"


def test_xmtp_recipients_off_the_network_are_permanent_failures(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]
) -> None:
    sinks.script("/xmtp/v1/messages", [404])
    outcome = deliver(message(Channel.XMTP, WALLET), make_config())
    assert outcome.status == "failed"
    assert "not on the XMTP network" in outcome.detail


def test_xmtp_refuses_a_destination_that_is_not_a_wallet(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]
) -> None:
    outcome = deliver(message(Channel.XMTP, "vitalik.eth"), make_config())
    assert outcome.status == "failed"
    assert sinks.count("/xmtp/", include_failed=True) == 0


# ---------------------------------------------------------------------------- email through moto's SES


def test_email_goes_through_ses_and_shows_up_in_the_sink(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig], moto_endpoint: str
) -> None:
    # Given the local sender identity verified in moto
    prepare_local_email(moto_endpoint)
    marker = uuid.uuid4().hex[:6]
    subject = render("Stats {{ marker }} for {{ name }}", {"marker": marker, "name": "Ada & <co>"}, Channel.EMAIL)
    body = render("<p>Hi {{ name }}</p>", {"name": "<script>x</script>"}, Channel.EMAIL)
    # When an email is delivered
    outcome = deliver(message(Channel.EMAIL, "ada@example.com", body=body, subject=subject), make_config())
    # Then SES accepted it and the sink lists it: the body escaped as rendered, the subject as plain header text
    subject = f"Stats {marker} for Ada & <co>"
    assert outcome.status == "delivered" and outcome.provider_id
    [mail] = [m for m in sinks.emails() if m["subject"] == subject]
    assert mail["id"] == outcome.provider_id
    assert mail["source"] == LOCAL_EMAIL_FROM
    assert mail["destinations"]["ToAddresses"] == ["ada@example.com"]
    assert "<p>Hi &lt;script&gt;x&lt;/script&gt;</p>" in mail["body"]
    # And the sink's page shows it to a person
    page = requests.get(f"{sinks.url}/", timeout=30).text
    assert f"Stats {marker} for Ada &amp; &lt;co&gt;" in page


def test_an_unverified_sender_is_a_permanent_failure_without_personal_data(
    make_config: Callable[..., ChannelsConfig],
) -> None:
    config = make_config(email={"from_address": f"nobody-{uuid.uuid4().hex[:6]}@example.com"})
    outcome = deliver(message(Channel.EMAIL, "ada@example.com", subject="x"), config)
    assert outcome.status == "failed"
    assert "MessageRejected" in outcome.detail
    assert "@" not in outcome.detail


def test_an_invalid_email_address_fails_before_calling_ses(make_config: Callable[..., ChannelsConfig]) -> None:
    outcome = deliver(message(Channel.EMAIL, "not-an-address"), make_config())
    assert outcome.status == "failed"
    assert "not valid" in outcome.detail


def test_email_without_a_sender_address_stops_the_channel(make_config: Callable[..., ChannelsConfig]) -> None:
    with pytest.raises(ChannelNotConfigured, match="from_address"):
        deliver(message(Channel.EMAIL, "ada@example.com"), make_config(email={"from_address": ""}))


# ---------------------------------------------------------------------------- the sink itself


def test_the_sink_serves_its_records_scripts_and_page_over_http(
    sinks: LocalSinks, make_config: Callable[..., ChannelsConfig]
) -> None:
    # Given a fault scripted over HTTP, as a shell user would
    answer = requests.post(f"{sinks.url}/_control/script", json={"path": "/webhook/h", "responses": [503]}, timeout=5)
    assert answer.status_code == 200
    config = make_config()
    deliver(message(Channel.WEBHOOK, sinks.webhook_url("h"), body="first <b>"), config)
    deliver(message(Channel.TELEGRAM, "1"), config)
    # Then /_deliveries lists every attempt, filtered by path
    listed = requests.get(f"{sinks.url}/_deliveries", params={"path": "/webhook/h"}, timeout=5).json()
    assert [r["status"] for r in listed] == [503, 200]
    # And every record was appended to the JSON-lines file
    assert sinks.deliveries_file is not None
    lines = [json.loads(line) for line in sinks.deliveries_file.read_text().splitlines()]
    assert [r["kind"] for r in lines] == ["webhook", "webhook", "telegram"]
    # And the page shows them escaped, never the Telegram token
    page = requests.get(f"{sinks.url}/", timeout=30).text
    assert "first &lt;b&gt;" in page and "signature ok" in page
    assert LOCAL_TELEGRAM_TOKEN not in page
    # And reset forgets everything
    requests.post(f"{sinks.url}/_control/reset", timeout=5)
    assert sinks.count(include_failed=True) == 0
