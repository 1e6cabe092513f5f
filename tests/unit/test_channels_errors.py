"""Which failures are permanent and which are retried, and how long retries wait (pure)."""

from __future__ import annotations

import email.utils

import pytest
from botocore.exceptions import ClientError

from shared.channels import backoff_delay
from shared.channels.base import (
    ChannelNotConfigured,
    Message,
    TransientDeliveryError,
    classify_status,
    parse_retry_after,
)
from shared.channels.config import RetrySettings, load_channels_config
from shared.channels.discord import DestinationRefused, request_for, with_wait
from shared.channels.email import (
    classify_error,
    html_document,
    plain_text,
    subject_line,
    tag_value,
    valid_address,
)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(status: int) -> None:
    assert classify_status(status, "the endpoint").status == "delivered"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_408_429_and_5xx_are_transient(status: int) -> None:
    with pytest.raises(TransientDeliveryError) as raised:
        classify_status(status, "the endpoint", retry_after=7.0)
    assert raised.value.retry_after == 7.0
    assert str(status) in raised.value.detail


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_other_4xx_are_permanent(status: int) -> None:
    outcome = classify_status(status, "the endpoint")
    assert outcome.status == "failed"
    assert str(status) in outcome.detail


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_permanent_and_say_so(status: int) -> None:
    outcome = classify_status(status, "the endpoint")
    assert outcome.status == "failed"
    assert "redirect" in outcome.detail


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_767_225_600.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


def _ses_error(code: str, status: int, message: str = "Email address not verified ada@example.com") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail"
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("TooManyRequestsException", 429),
        ("LimitExceededException", 400),
        ("ThrottlingException", 400),
        ("InternalFailure", 500),
        ("ServiceUnavailable", 503),
        ("SomethingNew", 502),
    ],
)
def test_ses_throttling_and_5xx_are_transient(code: str, status: int) -> None:
    with pytest.raises(TransientDeliveryError) as raised:
        classify_error(_ses_error(code, status))
    assert not isinstance(raised.value, ChannelNotConfigured)


@pytest.mark.parametrize(
    "code", ["MessageRejected", "MailFromDomainNotVerifiedException", "BadRequestException", "NotFoundException"]
)
def test_ses_rejections_are_permanent_without_personal_data(code: str) -> None:
    outcome = classify_error(_ses_error(code, 400))
    assert outcome.status == "failed"
    assert code in outcome.detail
    assert "@" not in outcome.detail  # SES's message quotes addresses; the outcome must not


@pytest.mark.parametrize("code", ["AccountSuspendedException", "SendingPausedException"])
def test_ses_account_problems_stop_the_channel(code: str) -> None:
    with pytest.raises(ChannelNotConfigured):
        classify_error(_ses_error(code, 400))


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    retry = RetrySettings(base_delay_s=0.5, max_delay_s=4.0)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [backoff_delay(attempt, retry) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1  # jittered, so simultaneous failures spread out


def test_backoff_never_undercuts_the_providers_retry_after() -> None:
    retry = RetrySettings(base_delay_s=0.5, max_delay_s=4.0)
    assert backoff_delay(1, retry, retry_after=3.0) == 3.0


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("ada@example.com", True),
        ("a.b+tag@mail.example.co.uk", True),
        ("ada@localhost", False),
        ("ada", False),
        ("ada@@example.com", False),
        ("Ada <ada@example.com>", False),
        ("a b@example.com", False),
    ],
)
def test_email_addresses_are_checked_before_sending(address: str, valid: bool) -> None:
    assert valid_address(address) is valid


def test_ses_tag_values_keep_only_allowed_characters() -> None:
    assert tag_value("camp#1/0xAbC:é") == "camp_1_0xAbC__"
    assert tag_value("") == "_"


def test_an_html_fragment_becomes_a_document_and_a_plain_text_part() -> None:
    body = "Hi &lt;Ada&gt;,\nyour score is <b>42</b>."
    assert html_document(body).endswith('<body style="white-space: pre-line">' + body + "</body></html>")
    assert html_document("<!DOCTYPE html><html></html>") == "<!DOCTYPE html><html></html>"
    assert plain_text(body) == "Hi <Ada>,\nyour score is 42."


def _discord(destination: str) -> Message:
    return Message(
        send_id="s1", campaign_id="c1", address="0x" + "a" * 40, channel="discord", destination=destination, body="gm"
    )


def test_discord_destinations_choose_the_webhook_and_who_is_pinged() -> None:
    # Given a default community webhook configured locally
    config = load_channels_config({"KITH_DISCORD_WEBHOOK_URL": "https://discord.example/api/webhooks/1/tok"})
    # A URL is never a destination: contacts could aim it anywhere
    for url in ("https://discord.example/api/webhooks/9/other", "http://10.0.0.5:8080/admin#1234"):
        with pytest.raises(DestinationRefused):
            request_for(_discord(url), config)
    # A user id is mentioned and only that user may be pinged
    url, payload = request_for(_discord("<@123456789012345678>"), config)
    assert url.endswith("/1/tok")
    assert payload["content"] == "<@123456789012345678> gm"
    assert payload["allowed_mentions"] == {"parse": [], "users": ["123456789012345678"]}
    # A handle is named as escaped text and pings nobody
    _, payload = request_for(_discord("@ada_eth"), config)
    assert payload == {"content": r"@ada\_eth gm", "allowed_mentions": {"parse": []}}


def test_discord_wait_is_added_to_any_query() -> None:
    assert with_wait("https://d.example/api/webhooks/1/t") == "https://d.example/api/webhooks/1/t?wait=true"
    assert (
        with_wait("https://d.example/api/webhooks/1/t?thread_id=5")
        == "https://d.example/api/webhooks/1/t?thread_id=5&wait=true"
    )


def test_an_email_subject_is_plain_header_text() -> None:
    # Given a subject rendered for email (values HTML-escaped, like the body)
    assert subject_line("Stats for Ada &amp; &lt;co&gt;") == "Stats for Ada & <co>"
    # And line breaks, which a header cannot carry, are flattened
    assert subject_line("two\r\nlines") == "two lines"
    assert subject_line(None) == ""
