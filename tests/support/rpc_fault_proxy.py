"""A real HTTP JSON-RPC proxy in front of anvil that injects the failures real providers produce.

Faults follow a fixed, repeating schedule (deterministic tests): each request to the proxy takes the
next entry. Kinds:
  ok        forward untouched
  429       HTTP 429 Too Many Requests
  timeout   sleep beyond the client's timeout, then forward (the client has given up by then)
  cap       eth_getLogs over more than one block: -32005 "query returned more than 10000 results"
  hint      eth_getLogs over more than one block: -32602 with "this block range should work: [a, b]"
  null      a null result (a lagging node); in a batch, the first entry
  truncate  a batch answer with its second half missing
  internal  -32603 internal error
  reset     HTTP 200 with a body cut off mid-JSON
  empty     eth_getLogs answered with [] although logs exist (a lagging node behind a balancer)
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        schedule: Sequence[str],
        timeout_sleep: float = 1.0,
        logs_schedule: Sequence[str] | None = None,
    ) -> None:
        self.upstream = upstream
        self.schedule = list(schedule)
        # eth_getLogs gets its own cycle, so range faults land on range queries deterministically
        self.logs_schedule = list(logs_schedule) if logs_schedule else None
        self.logs_requests = 0
        self._deferred: list[str] = []
        self.timeout_sleep = timeout_sleep
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self._lock = threading.Lock()
        self._session = requests.Session()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = proxy.handle(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _next_fault(self, payload: Any) -> str:
        with self._lock:
            if self.logs_schedule and isinstance(payload, dict) and payload.get("method") == "eth_getLogs":
                fault = self.logs_schedule[self.logs_requests % len(self.logs_schedule)]
                self.logs_requests += 1
                return fault
            fault = self.schedule[self.requests % len(self.schedule)] if self.schedule else "ok"
            self.requests += 1
            return fault

    def _forward(self, payload: Any) -> Any:
        return self._session.post(self.upstream, json=payload, timeout=60).json()

    def _note(self, fault: str) -> None:
        with self._lock:
            self.injected[fault] += 1

    @staticmethod
    def _applies(fault: str, payload: Any) -> bool:
        if fault == "truncate":
            return isinstance(payload, list) and len(payload) > 1
        if fault in ("cap", "hint", "empty"):
            return isinstance(payload, dict) and payload.get("method") == "eth_getLogs"
        return True

    def handle(self, payload: Any) -> tuple[int, bytes]:
        fault = self._next_fault(payload)
        with self._lock:
            # a fault that does not fit this request waits for the next one it fits
            if not self._applies(fault, payload):
                self._deferred.append(fault)
                fault = "ok"
            for waiting in self._deferred:
                if fault == "ok" and self._applies(waiting, payload):
                    self._deferred.remove(waiting)
                    fault = waiting
                    break
        is_batch = isinstance(payload, list)
        single_get_logs = not is_batch and payload.get("method") == "eth_getLogs"
        if fault == "429":
            self._note(fault)
            return 429, b'{"error":"Too Many Requests"}'
        if fault == "timeout":
            self._note(fault)
            time.sleep(self.timeout_sleep)
            return 200, json.dumps(self._forward(payload)).encode()
        if fault in ("cap", "hint") and single_get_logs:
            params = payload["params"][0]
            first, last = int(params["fromBlock"], 16), int(params["toBlock"], 16)
            if last > first:
                self._note(fault)
                if fault == "cap":
                    error = {"code": -32005, "message": "query returned more than 10000 results"}
                else:
                    suggested = first + (last - first) // 3
                    error = {
                        "code": -32602,
                        "message": f"this block range should work: [{hex(first)}, {hex(suggested)}]",
                    }
                return 200, json.dumps({"jsonrpc": "2.0", "id": payload["id"], "error": error}).encode()
        if fault == "internal":
            self._note(fault)
            error = {"code": -32603, "message": "internal error"}
            if is_batch:
                return 200, json.dumps([{"jsonrpc": "2.0", "id": p["id"], "error": error} for p in payload]).encode()
            return 200, json.dumps({"jsonrpc": "2.0", "id": payload["id"], "error": error}).encode()
        answer = self._forward(payload)
        if fault == "null":
            self._note(fault)
            if is_batch and answer:
                answer[0] = {"jsonrpc": "2.0", "id": answer[0]["id"], "result": None}
            elif not is_batch and "result" in answer:
                answer = {"jsonrpc": "2.0", "id": answer["id"], "result": None}
        elif fault == "truncate" and is_batch and len(answer) > 1:
            self._note(fault)
            answer = answer[: len(answer) // 2]
        elif fault == "empty" and single_get_logs and answer.get("result"):
            self._note(fault)
            answer = {"jsonrpc": "2.0", "id": answer["id"], "result": []}
        elif fault == "reset":
            self._note(fault)
            return 200, json.dumps(answer).encode()[:20]
        return 200, json.dumps(answer).encode()
