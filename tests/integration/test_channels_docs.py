"""Acceptance: webhook signatures made by the adapter verify with the snippet in docs/webhooks.md."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from infra.localcloud.sinks import LocalSinks, local_channels_env
from shared.channels import Message, deliver
from shared.channels.base import Channel
from shared.channels.config import load_channels_config
from shared.channels.ratelimit import LIMITERS
from shared.channels.webhook import endpoint_secret

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECRET = "whsec-docs-secret"


def documented_verifier() -> Callable[[str, str, bytes], bool]:
    """The first ```python block of docs/webhooks.md, run as a receiver would paste it."""
    block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert block is not None, "docs/webhooks.md has no ```python block"
    namespace: dict[str, object] = {}
    exec(compile(block.group(1), str(DOC), "exec"), namespace)
    verifier = namespace["verify_kith_signature"]
    assert callable(verifier)
    return cast(Callable[[str, str, bytes], bool], verifier)


@pytest.fixture
def sinks(tmp_path: Path) -> Iterator[LocalSinks]:
    with LocalSinks(webhook_secret=SECRET, state_dir=tmp_path) as running:
        yield running


def test_webhook_signatures_verify_with_the_snippet_in_the_docs(sinks: LocalSinks) -> None:
    # Given the verification snippet exactly as the docs print it
    verify_kith_signature = documented_verifier()
    # And a real delivery, signed by the webhook adapter and received by the sink
    LIMITERS.reset()
    config = load_channels_config(local_channels_env(sinks.url, SECRET))
    sent = Message(
        send_id="camp-docs#0x5aeda56215b167893e80b4fe645ba6d5bab767de",
        campaign_id="camp-docs",
        address="0x5aeda56215b167893e80b4fe645ba6d5bab767de",
        channel=Channel.WEBHOOK,
        destination=sinks.webhook_url("docs"),
        subject="Ünïcode & <markup>",
        body='gm "fren" \u2728',
        data={"score": 42.5},
    )
    assert deliver(sent, config).status == "delivered"
    [record] = sinks.deliveries("/webhook/docs")
    header = record["headers"]["Kith-Signature"]
    raw = record["raw_body"].encode()
    # When the receiver verifies the raw body it got with its endpoint's secret, Then the snippet accepts it
    endpoint = endpoint_secret(config, sent.destination)
    assert verify_kith_signature(endpoint, header, raw)
    # And another endpoint's secret, or the deployment secret itself, does not verify it
    assert not verify_kith_signature(endpoint_secret(config, sinks.webhook_url("other")), header, raw)
    assert not verify_kith_signature(SECRET, header, raw)
    assert json.loads(raw)["id"] == record["headers"]["Kith-Delivery-Id"] == sent.send_id
    # And rejects a wrong secret, a changed body and a body re-serialised by a JSON parser
    assert not verify_kith_signature("not-the-secret", header, raw)
    assert not verify_kith_signature(endpoint, header, raw.replace(b"42.5", b"99.5"))
    assert not verify_kith_signature(endpoint, header, json.dumps(json.loads(raw)).encode())
    assert not verify_kith_signature(endpoint, "", raw)
    # And the Standard Webhooks headers verify with the standardwebhooks package's own verifier
    standard = Webhook(endpoint)
    assert standard.verify(raw, record["headers"]) is not None
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint_secret(config, sinks.webhook_url("other"))).verify(raw, record["headers"])
