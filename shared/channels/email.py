"""Email through SES v2 SendEmail: an HTML part (the rendered body) and a plain-text part derived from it.

EmailTags carry the campaign and the send id, so SES event destinations (bounces, complaints,
opens) can be joined back to the send. Locally the client talks to moto's SES through
AWS_ENDPOINT_URL; moto keeps what was sent, and infra/localcloud/sinks.py shows it.

SES errors:
  transient  TooManyRequests, LimitExceeded (sending quota), throttling, 5xx, timeouts, connection errors
  failed     MessageRejected, MailFromDomainNotVerified, BadRequest (an invalid address), NotFound
  not configured  AccountSuspended, SendingPaused, no from_address: every message would fail alike
"""

from __future__ import annotations

import html
import os
import re
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.channels.base import ChannelNotConfigured, DeliveryOutcome, Message, TransientDeliveryError
from shared.channels.config import ChannelsConfig
from shared.channels.render import html_to_text

_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")  # SES tag values allow only these
_TRANSIENT_CODES = frozenset(
    {
        "TooManyRequestsException",
        "LimitExceededException",
        "Throttling",
        "ThrottlingException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
    }
)
_ACCOUNT_CODES = frozenset({"AccountSuspendedException", "SendingPausedException"})


def valid_address(address: str) -> bool:
    return len(address) <= 254 and _ADDRESS.match(address) is not None


def tag_value(value: str) -> str:
    return _TAG_UNSAFE.sub("_", value)[:256] or "_"


def html_document(body: str) -> str:
    """The body as an HTML document; a bare fragment keeps its line breaks (pre-line), as its author typed them."""
    if body.lstrip()[:14].lower().startswith(("<!doctype", "<html")):
        return body
    return (
        '<!doctype html><html><head><meta charset="utf-8"></head>'
        f'<body style="white-space: pre-line">{body}</body></html>'
    )


def plain_text(body: str) -> str:
    fragment = re.sub(r"\r?\n", "<br>", body) if "<body" not in body.lower() else body
    return html_to_text(fragment)


def subject_line(subject: str | None) -> str:
    """The subject as header text: rendered for email it is HTML-escaped like the body, but a header is plain
    text, so entities are decoded (as for the plain-text part) and line breaks flattened."""
    if not subject:
        return ""
    return " ".join(html.unescape(subject).split())


def classify_error(exc: ClientError) -> DeliveryOutcome:
    """A permanent failure as an outcome; transient and account-wide errors are raised."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in _ACCOUNT_CODES:
        raise ChannelNotConfigured(f"SES refuses to send for this account ({code}): see the SES console")
    if code in _TRANSIENT_CODES or status >= 500 or status == 429:
        raise TransientDeliveryError(f"SES is throttling or unavailable ({code or status})")
    # SES's messages quote addresses, so only the code is kept
    return DeliveryOutcome.failed(f"SES rejected the message ({code or status})")


@lru_cache(maxsize=8)
def _client(endpoint: str, region: str, timeout_s: float) -> Any:
    # One attempt per call: deliver() owns retries, and botocore's own would multiply them.
    config = Config(connect_timeout=timeout_s, read_timeout=timeout_s, retries={"max_attempts": 1, "mode": "standard"})
    return boto3.session.Session().client("sesv2", config=config)  # endpoint and region come from the environment


def ses_client(timeout_s: float) -> Any:
    return _client(os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_DEFAULT_REGION", ""), timeout_s)


def send(message: Message, config: ChannelsConfig) -> DeliveryOutcome:
    settings = config.email
    if not settings.from_address:
        raise ChannelNotConfigured("email.from_address is not set in KITH_CHANNELS (a verified SES identity)")
    if not valid_address(message.destination):
        return DeliveryOutcome.failed("the recipient's email address is not valid")
    request: dict[str, Any] = {
        "FromEmailAddress": settings.from_address,
        "Destination": {"ToAddresses": [message.destination]},
        "Content": {
            "Simple": {
                "Subject": {"Data": subject_line(message.subject) or settings.default_subject, "Charset": "UTF-8"},
                "Body": {
                    "Html": {"Data": html_document(message.body), "Charset": "UTF-8"},
                    "Text": {"Data": plain_text(message.body), "Charset": "UTF-8"},
                },
            }
        },
        "EmailTags": [
            {"Name": "campaign_id", "Value": tag_value(message.campaign_id)},
            {"Name": "send_id", "Value": tag_value(message.send_id)},
        ],
    }
    if settings.configuration_set:
        request["ConfigurationSetName"] = settings.configuration_set
    try:
        answer = ses_client(settings.timeout_s).send_email(**request)
    except ClientError as exc:
        return classify_error(exc)
    except BotoCoreError as exc:
        raise TransientDeliveryError(f"SES could not be reached ({type(exc).__name__})") from None
    return DeliveryOutcome.delivered("SES accepted the message", provider_id=answer.get("MessageId"))
