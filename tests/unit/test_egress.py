"""The egress guard (F1, F2): https only, public addresses only, the checked address is the one connected to."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.channels import Message, deliver, load_channels_config
from shared.channels.base import Channel
from shared.egress import (
    EgressPolicy,
    EgressRefused,
    check_url,
    guarded_session,
    policy_from_setting,
    redacted,
    scrub,
)

STRICT = EgressPolicy()
LOCAL = policy_from_setting('{"allow_http": true, "allow_networks": ["127.0.0.0/8"]}')


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8080/admin#1234",  # F1: the Discord handle that was a URL
        "https://169.254.169.254/latest/meta-data/",  # F2: instance metadata
        "https://127.0.0.1:9001/2018-06-01/runtime/invocation/next",  # F2: the Lambda Runtime API
        "https://10.1.2.3/",
        "https://192.168.0.1/",
        "https://172.16.5.4/",
        "https://100.64.0.1/",
        "https://[::1]/",
        "https://[fd00:ec2::254]/",
        "https://[::ffff:169.254.169.254]/",
        "https://2130706433/",  # 127.0.0.1 as one number
        "https://0x7f.0.0.1/",
        "https://localhost/",
        "https://metadata.google.internal/",
        "https://user:pass@example.org/",
        "ftp://example.org/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
    ],
)
def test_internal_and_non_https_destinations_are_refused(url: str) -> None:
    with pytest.raises(EgressRefused):
        check_url(url, STRICT)


def test_a_public_https_url_passes_and_the_local_setting_opens_only_loopback_over_http() -> None:
    check_url("https://hooks.example.org/kith?x=1", STRICT)
    check_url("http://127.0.0.1:8025/webhook/x", LOCAL)
    for still_closed in ("http://10.0.0.5/", "http://169.254.169.254/", "http://192.168.1.1/"):
        with pytest.raises(EgressRefused):
            check_url(still_closed, LOCAL)
    # metadata addresses stay closed even when a setting opens their whole network
    with pytest.raises(EgressRefused):
        check_url("https://169.254.169.254/", policy_from_setting('{"allow_networks": ["169.254.0.0/16"]}'))


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that records the paths it was asked for (it must never be reached)."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_a_public_name_that_resolves_inside_is_refused_at_connect_time(
    listener: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a name that passes the URL check but whose DNS answer is the loopback listener (rebinding)
    address, hits = listener
    port = int(address.split(":")[1])
    real = socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example.org":
            return real("127.0.0.1", port, type=socket.SOCK_STREAM)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setenv("KITH_EGRESS", '{"allow_http": true}')
    # When the guarded session calls it, Then it is refused and nothing reaches the listener
    with pytest.raises(EgressRefused, match=r"resolves to 127\.0\.0\.1"):
        guarded_session().post(f"http://hooks.example.org:{port}/x", data=b"{}", timeout=5)
    assert hits == []


def test_redirects_are_never_followed(listener: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KITH_EGRESS", '{"allow_http": true, "allow_networks": ["127.0.0.0/8"]}')
    address, hits = listener
    session = guarded_session()
    response = session.get(f"http://{address}/ok", timeout=5)
    assert response.status_code == 200 and hits == ["/ok"]
    assert session.get_redirect_target(response) is None
    assert session.max_redirects == 0


def test_a_discord_destination_smuggled_as_a_url_never_leaves(
    listener: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the F1 payload pointed at a listener on this machine, and a configured default webhook
    monkeypatch.setenv("KITH_EGRESS", '{"allow_http": true, "allow_networks": ["127.0.0.0/8"]}')
    address, hits = listener
    config = load_channels_config({"KITH_DISCORD_WEBHOOK_URL": "https://discord.example/api/webhooks/1/t"})
    message = Message(
        send_id="s",
        campaign_id="c",
        address="0x" + "a" * 40,
        channel=Channel.DISCORD,
        destination=f"http://{address}/admin#1234",
        body="gm",
    )
    # When delivered, Then the outcome is a permanent failure and the listener saw nothing
    outcome = deliver(message, config)
    assert outcome.status == "failed"
    assert hits == []


def test_rpc_urls_are_redacted_to_scheme_and_host() -> None:
    url = "https://eth-mainnet.g.alchemy.com/v2/AbCdEf0123456789"
    assert redacted(url) == "https://eth-mainnet.g.alchemy.com/…"
    text = f"HTTPSConnectionPool: Max retries exceeded with url: /v2/AbCdEf0123456789 ({url})"
    assert "AbCdEf0123456789" not in scrub(text, [url])
