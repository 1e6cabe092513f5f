"""Local delivery sinks: one HTTP server on 127.0.0.1 that plays every receiver a campaign can reach.

    POST /webhook/<name>                      a campaign's webhook endpoint; the signature is checked
    POST /discord/<id>/<token>                a Discord incoming webhook (?wait=true answers the message)
    POST /telegram/bot<token>/sendMessage     the Telegram Bot API
    POST /xmtp/v1/messages                    the XMTP gateway contract (docs/channels.md)
    GET  /                                    an HTML page: recent deliveries, and the emails moto's SES kept
    GET  /_deliveries[?path=/webhook/x]       every recorded request as JSON (also .state/.../deliveries.jsonl)
    GET  /_emails                             the emails sent through moto's SES, as JSON
    POST /_control/script                     scripted faults, e.g. {"path": "/webhook/flaky", "responses": [500, 200]}
                                              or {"path": "/webhook/down", "always": 500}
    POST /_control/reset                      forget deliveries and scripts

A scripted response is a status code or {"status": 429, "retry_after": 2, "delay": 0.5}; each request
to the path takes the next one, and once the queue is empty the path answers normally again. Every
request is recorded with the status it got, so tests see retries; count() and deliveries() default
to the successful ones. Tokens in Discord and Telegram paths are masked in what is recorded.

Emails are read from moto's /moto-api/data.json, which serialises every object moto tracks: fine
for a page a person opens, too slow to poll (about 1 s per 20,000 DynamoDB items).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from infra.localcloud.channel_env import (
    LOCAL_DISCORD_TOKEN,
    LOCAL_DISCORD_WEBHOOK_ID,
    LOCAL_EGRESS,
    LOCAL_EMAIL_FROM,
    LOCAL_TELEGRAM_TOKEN,
    LOCAL_XMTP_TOKEN,
    local_channels_env,
    prepare_local_email,
)
from infra.localcloud.sink_page import PAGE_LIMIT, render_page
from shared.channels.webhook import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    STANDARD_ID_HEADER,
    STANDARD_SIGNATURE_HEADER,
    STANDARD_TIMESTAMP_HEADER,
    endpoint_key,
    verify,
)

log = logging.getLogger("kith.localcloud.sinks")

__all__ = [
    "DELIVERIES_FILE",
    "LOCAL_DISCORD_TOKEN",
    "LOCAL_DISCORD_WEBHOOK_ID",
    "LOCAL_EGRESS",
    "LOCAL_EMAIL_FROM",
    "LOCAL_TELEGRAM_TOKEN",
    "LOCAL_XMTP_TOKEN",
    "LocalSinks",
    "ScriptedResponse",
    "local_channels_env",
    "prepare_local_email",
]

DELIVERIES_FILE = "deliveries.jsonl"

_RECORDED_HEADERS = (
    "Content-Type",
    "User-Agent",
    SIGNATURE_HEADER,
    DELIVERY_ID_HEADER,
    STANDARD_ID_HEADER,
    STANDARD_TIMESTAMP_HEADER,
    STANDARD_SIGNATURE_HEADER,
    "Idempotency-Key",
    "Authorization",
)
_TELEGRAM_PATH = re.compile(r"^/telegram/bot(?P<token>[^/]+)/(?P<method>\w+)$")
_DISCORD_PATH = re.compile(r"^/discord/(?P<id>[^/]+)/(?P<token>[^/]+)$")
_TELEGRAM_ERRORS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
}


class ScriptedResponse:
    def __init__(self, spec: int | Mapping[str, Any]) -> None:
        if isinstance(spec, int):
            spec = {"status": spec}
        self.status = int(spec.get("status", 200))
        retry_after = spec.get("retry_after")
        self.retry_after = float(retry_after) if retry_after is not None else None
        self.delay = float(spec.get("delay", 0))


class LocalSinks:
    """The sink server; start()/stop() or a `with` block. port=0 picks a free port."""

    def __init__(
        self,
        *,
        port: int = 0,
        webhook_secret: str = "",
        state_dir: Path | None = None,
        moto_endpoint: str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.port = port
        self.webhook_secret = webhook_secret
        self.state_dir = state_dir
        self.moto_endpoint = moto_endpoint
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._scripts: dict[str, deque[ScriptedResponse]] = {}
        self._always: dict[str, ScriptedResponse] = {}
        self._xmtp_ids: dict[str, str] = {}
        self._sequence = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalSinks:
        if self._server is not None:
            return self
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="kith-sinks", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> LocalSinks:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def webhook_url(self, name: str) -> str:
        return f"{self.url}/webhook/{name}"

    @property
    def deliveries_file(self) -> Path | None:
        return None if self.state_dir is None else self.state_dir / DELIVERIES_FILE

    # ------------------------------------------------------------------ what tests and the run read

    def deliveries(self, path_prefix: str = "", *, include_failed: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(record)
                for record in self._records
                if record["path"].startswith(path_prefix) and (include_failed or 200 <= record["status"] < 300)
            ]

    def count(self, path_prefix: str = "", *, include_failed: bool = False) -> int:
        return len(self.deliveries(path_prefix, include_failed=include_failed))

    def script(
        self, path: str, responses: list[int | Mapping[str, Any]] | None = None, always: Any | None = None
    ) -> None:
        """Queue responses for `path` (raw, token included), or make it always answer `always`."""
        with self._lock:
            if responses is not None:
                self._scripts[path] = deque(ScriptedResponse(spec) for spec in responses)
            if always is not None:
                self._always[path] = ScriptedResponse(always)

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
            self._scripts.clear()
            self._always.clear()
            self._xmtp_ids.clear()

    def emails(self, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Emails moto's SES accepted (SES v1 and v2 share its store): id, source, destinations, subject, body."""
        if not self.moto_endpoint:
            return []
        answer = requests.get(f"{self.moto_endpoint}/moto-api/data.json", timeout=timeout)
        answer.raise_for_status()
        messages = answer.json().get("ses", {}).get("Message", [])
        keys = ("id", "source", "destinations", "subject", "body")
        return [{key: message.get(key) for key in keys} for message in messages]

    def describe(self) -> str:
        """One line for the run's output: where to look."""
        return f"deliveries (webhook, Discord, Telegram, XMTP, and SES emails): {self.url}/"

    # ------------------------------------------------------------------ request handling

    def _next_scripted(self, path: str) -> ScriptedResponse | None:
        with self._lock:
            queue = self._scripts.get(path)
            if queue:
                return queue.popleft()
            return self._always.get(path)

    def _record(self, record: dict[str, Any]) -> None:
        with self._lock:
            record["seq"] = next(self._sequence)
            self._records.append(record)
            target = self.deliveries_file
            if target is not None:
                with target.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(record, default=str) + "\n")

    def handle_post(self, path: str, query: str, headers: Mapping[str, str], raw: bytes) -> tuple[int, dict, bytes]:
        """(status, headers, body) for a POST; records it."""
        kind, masked = _classify_path(path)
        if kind is None:
            return _json(404, {"error": f"no sink at {masked}; see GET / for the paths this server plays"})
        body = _parsed(raw)
        record: dict[str, Any] = {
            "received_at": dt.datetime.now(dt.UTC).isoformat(),
            "kind": kind,
            "path": masked,
            "headers": _recorded_headers(headers),
            "body": body,
        }
        if kind == "webhook":
            # the exact bytes, so a receiver's verification can be replayed against what was signed
            record["raw_body"] = raw.decode("utf-8", "replace")
            # each endpoint has its own key, derived from the deployment secret and the URL it was sent to
            key = endpoint_key(self.webhook_secret, f"{self.url}{path}") if self.webhook_secret else b""
            record["signature_valid"] = bool(key) and verify(key, headers.get(SIGNATURE_HEADER), raw)
        scripted = self._next_scripted(path)
        if scripted is not None and scripted.delay:
            time.sleep(scripted.delay)
        if scripted is not None and not 200 <= scripted.status < 300:
            status, response_headers, response_body = _scripted_failure(kind, scripted)
        else:
            status, response_headers, response_body = self._success(kind, path, query, headers, body, scripted)
        record["status"] = status
        self._record(record)
        return status, response_headers, response_body

    def _success(
        self,
        kind: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: Any,
        scripted: ScriptedResponse | None,
    ) -> tuple[int, dict, bytes]:
        status = scripted.status if scripted is not None else 200
        message_id = next(self._message_ids)
        if kind == "telegram":
            chat_id = body.get("chat_id") if isinstance(body, dict) else None
            result = {"message_id": message_id, "chat": {"id": chat_id}, "date": int(time.time())}
            return _json(200, {"ok": True, "result": result})
        if kind == "discord":
            if "wait=true" not in query:
                return 204, {}, b""
            content = body.get("content") if isinstance(body, dict) else None
            return _json(200, {"id": str(message_id), "content": content, "webhook_id": path.split("/")[2]})
        if kind == "xmtp":
            key = headers.get("Idempotency-Key") or str(message_id)
            with self._lock:
                existing = self._xmtp_ids.setdefault(key, f"xmtp-{message_id}")
            return _json(status, {"message_id": existing})
        return _json(status, {"received": True})

    def page(self) -> str:
        with self._lock:
            recent = list(reversed(self._records[-PAGE_LIMIT:]))
        try:
            emails = list(reversed(self.emails()))[:PAGE_LIMIT]
            email_problem = "" if self.moto_endpoint else "no moto endpoint was given to the sink"
        except (requests.RequestException, ValueError) as exc:
            emails, email_problem = [], f"could not read moto's SES ({type(exc).__name__})"
        return render_page(recent, emails, email_problem)


def _classify_path(path: str) -> tuple[str | None, str]:
    """(kind, the path with tokens masked)."""
    if path.startswith("/webhook/") and len(path) > len("/webhook/"):
        return "webhook", path
    telegram = _TELEGRAM_PATH.match(path)
    if telegram and telegram.group("method") == "sendMessage":
        return "telegram", "/telegram/bot***/sendMessage"
    discord = _DISCORD_PATH.match(path)
    if discord:
        return "discord", f"/discord/{discord.group('id')}/***"
    if path == "/xmtp/v1/messages":
        return "xmtp", path
    return None, re.sub(r"/bot[^/]+/", "/bot***/", path)


def _recorded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {name: headers[name] for name in _RECORDED_HEADERS if headers.get(name) is not None}
    if "Authorization" in kept:
        kept["Authorization"] = kept["Authorization"].split(" ", 1)[0] + " ***"
    return kept


def _parsed(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode()


def _scripted_failure(kind: str, scripted: ScriptedResponse) -> tuple[int, dict, bytes]:
    status = scripted.status
    headers: dict[str, str] = {}
    if scripted.retry_after is not None:
        headers["Retry-After"] = f"{scripted.retry_after:g}"
    if 300 <= status < 400:
        headers["Location"] = "http://127.0.0.1:9/moved"
    if kind == "telegram":
        description = _TELEGRAM_ERRORS.get(status, "Internal Server Error" if status >= 500 else "Bad Request")
        error: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if status == 429:
            retry_after = scripted.retry_after if scripted.retry_after is not None else 1
            error["description"] = f"Too Many Requests: retry after {retry_after:g}"
            error["parameters"] = {"retry_after": retry_after}
        return _json(status, error, headers)
    if kind == "discord" and status == 429:
        retry_after = scripted.retry_after if scripted.retry_after is not None else 1
        return _json(status, {"message": "You are being rate limited.", "retry_after": retry_after, "global": False})
    if kind == "discord":
        return _json(status, {"message": "Unknown Webhook" if status == 404 else "scripted failure", "code": 0})
    if kind == "xmtp" and status in (404, 422):
        return _json(status, {"error": "recipient is not on the XMTP network"}, headers)
    return _json(status, {"error": "scripted failure"}, headers)


def _handler_for(sinks: LocalSinks) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/":
                self._send(200, {"Content-Type": "text/html; charset=utf-8"}, sinks.page().encode())
            elif parts.path == "/_deliveries":
                prefix = parse_qs(parts.query).get("path", [""])[0]
                self._send(*_json(200, sinks.deliveries(prefix, include_failed=True)))
            elif parts.path == "/_emails":
                try:
                    self._send(*_json(200, sinks.emails()))
                except (requests.RequestException, ValueError) as exc:
                    self._send(*_json(502, {"error": f"could not read moto's SES ({type(exc).__name__})"}))
            else:
                self._send(*_json(404, {"error": "not found; GET / lists the deliveries"}))

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            raw = self._body()
            if parts.path == "/_control/script":
                self._control_script(raw)
            elif parts.path == "/_control/reset":
                sinks.reset()
                self._send(*_json(200, {"reset": True}))
            else:
                headers = {name: value for name, value in self.headers.items()}
                canonical = {_canonical(name): value for name, value in headers.items()}
                self._send(*sinks.handle_post(parts.path, parts.query, canonical, raw))

        def _control_script(self, raw: bytes) -> None:
            try:
                spec = json.loads(raw)
                path = spec["path"]
                sinks.script(path, spec.get("responses"), spec.get("always"))
            except (ValueError, KeyError, TypeError):
                self._send(*_json(400, {"error": 'send {"path": "/webhook/x", "responses": [500, 200]}'}))
                return
            self._send(*_json(200, {"scripted": path}))

    return Handler


def _canonical(name: str) -> str:
    for known in _RECORDED_HEADERS:
        if known.lower() == name.lower():
            return known
    return name
