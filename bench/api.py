"""API benchmark: latency and DynamoDB cost of the two hottest reads, over HTTP through the local gateway.

A LocalCloud with a simulated community catches up, then (after one warm-up call per route, so the
authorizer's policy cache and the cursor signing key are warm, as in a warm Lambda):
  wallet_p50_ms / wallet_p99_ms   GET /wallets/{address}, cycling over every wallet the API ranks
  wallet_requests                 DynamoDB requests the ApiFunction makes per such call
  members_p50_ms / members_p99_ms GET /segments/{id}/members?limit=N, the first page then each
                                  next_cursor in turn, starting over at the last page
  members_page_requests           DynamoDB requests the ApiFunction makes per page (the design: one Query)
Context keys: authorizer_requests (DynamoDB requests of the authorizer over the whole run; it runs once
per key and cache TTL), wallets_sampled, members_segment_size.

Latency is the client's: HTTP, the gateway (authorizer cache, proxy event), the handler and moto.
Requests are counted with shared.store.dynamo.REQUESTS around each handler invocation; the local
cloud runs one invocation at a time, so a background function's requests never land in the API's count.
Human lines first, then one JSON object as the last line. Timings are reported, never asserted.

    .venv/bin/python bench/api.py [--wallets 300] [--days 60] [--calls 300] [--page 25]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

from infra.localcloud.anvil import free_port, free_port_pair  # noqa: E402
from shared.store.dynamo import REQUESTS  # noqa: E402

# The local cloud routes stdout/stderr to its log files while it runs; the bench writes here.
OUT = sys.stdout
API_FUNCTION = "ApiFunction"
AUTHORIZER_FUNCTION = "AuthorizerFunction"


def say(message: str) -> None:
    print(message, file=OUT, flush=True)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@contextlib.contextmanager
def dynamo_requests_by_function() -> Iterator[Counter[str]]:
    """DynamoDB requests each function's handler makes, in this process (invocations run one at a time)."""
    from infra.localcloud.functions import FunctionHost

    counted: Counter[str] = Counter()
    original = FunctionHost.handler

    def counting_handler(host: FunctionHost, logical_id: str) -> Any:
        handler = original(host, logical_id)

        def run(event: Any, context: Any) -> Any:
            before = REQUESTS.total("dynamodb:")
            try:
                return handler(event, context)
            finally:
                counted[logical_id] += REQUESTS.total("dynamodb:") - before

        return run

    FunctionHost.handler = counting_handler  # type: ignore[method-assign,assignment]
    try:
        yield counted
    finally:
        FunctionHost.handler = original  # type: ignore[method-assign]


class Api:
    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.session.get(f"{self.url}{path}", params=params, timeout=60)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} {params}: {response.status_code} {response.text[:300]}")
        body: dict[str, Any] = response.json()
        return body

    def timed(self, path: str, **params: Any) -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        body = self.get(path, **params)
        return (time.perf_counter() - started) * 1000, body


def ranked_wallets(api: Api, most: int) -> list[str]:
    addresses: list[str] = []
    cursor: str | None = None
    while len(addresses) < most:
        page = api.get("/wallets", limit=100, **({"cursor": cursor} if cursor else {}))
        addresses += [w["address"] for w in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    return addresses[:most]


def largest_segment(api: Api) -> tuple[str, str, int]:
    segments = api.get("/segments")["items"]
    if not segments:
        raise RuntimeError("the local cloud has no segments to page through")
    biggest = max(segments, key=lambda s: s.get("members") or 0)
    return biggest["segment_id"], biggest["name"], int(biggest.get("members") or 0)


def bench_wallets(api: Api, counted: Counter[str], calls: int, results: dict[str, Any]) -> None:
    addresses = ranked_wallets(api, calls)
    if not addresses:
        raise RuntimeError("the API ranks no wallets: did the local cloud ingest anything?")
    api.get(f"/wallets/{addresses[0]}")  # warm-up: authorizer policy cached, handler imported
    before = counted[API_FUNCTION]
    latencies = [api.timed(f"/wallets/{addresses[i % len(addresses)]}")[0] for i in range(calls)]
    requests_made = counted[API_FUNCTION] - before
    results["wallet_p50_ms"] = round(statistics.median(latencies), 2)
    results["wallet_p99_ms"] = round(percentile(latencies, 0.99), 2)
    results["wallet_requests"] = round(requests_made / calls, 3)
    results["wallets_sampled"] = len(addresses)
    say(
        f"GET /wallets/{{address}}: {calls} calls over {len(addresses)} wallets: p50 {results['wallet_p50_ms']} ms, "
        f"p99 {results['wallet_p99_ms']} ms, max {max(latencies):.1f} ms; "
        f"{results['wallet_requests']} DynamoDB requests per call"
    )


def bench_members(api: Api, counted: Counter[str], calls: int, page: int, results: dict[str, Any]) -> None:
    segment_id, name, size = largest_segment(api)
    path = f"/segments/{segment_id}/members"
    api.get(path, limit=page)  # warm-up: the cursor signing key is read once per warm function
    before = counted[API_FUNCTION]
    latencies: list[float] = []
    cursor: str | None = None
    with_cursor = 0
    for _ in range(calls):
        elapsed, body = api.timed(path, limit=page, **({"cursor": cursor} if cursor else {}))
        latencies.append(elapsed)
        with_cursor += cursor is not None
        cursor = body["next_cursor"]
    requests_made = counted[API_FUNCTION] - before
    results["members_p50_ms"] = round(statistics.median(latencies), 2)
    results["members_p99_ms"] = round(percentile(latencies, 0.99), 2)
    results["members_page_requests"] = round(requests_made / calls, 3)
    results["members_segment_size"] = size
    say(
        f"GET /segments/{{id}}/members?limit={page} on {name!r} ({size} members): {calls} pages "
        f"({with_cursor} with a cursor): p50 {results['members_p50_ms']} ms, p99 {results['members_p99_ms']} ms, "
        f"max {max(latencies):.1f} ms; {results['members_page_requests']} DynamoDB requests per page"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wallets", type=int, default=300, help="simulated community of the local cloud")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--calls", type=int, default=300, help="timed calls of each route")
    parser.add_argument("--page", type=int, default=25, help="members per page")
    args = parser.parse_args()

    from infra.localcloud.main import LocalCloud, LocalCloudConfig

    results: dict[str, Any] = {}
    began = time.perf_counter()
    last = [0.0]

    def progress(line: str) -> None:
        if time.monotonic() - last[0] > 10:
            say(f"  {line}")
            last[0] = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="kith-bench-api-") as tmp, dynamo_requests_by_function() as counted:
        config = LocalCloudConfig(
            state_dir=Path(tmp) / ".state",
            api_port=free_port(),
            moto_port=free_port(),
            anvil_port=free_port_pair(),
            wallets=args.wallets,
            days=args.days,
            seed=args.seed,
            log_to_files=True,  # handler logs and metrics go to the state folder, not into this output
        )
        cloud = LocalCloud(config, progress=progress)
        with contextlib.ExitStack() as stop:
            stop.callback(cloud.stop)
            cloud.start()
            cloud.catch_up(timeout=900, on_progress=progress)
            caught_up = time.perf_counter() - began
            say(f"local cloud: {args.wallets} wallets, {args.days} days, caught up after {caught_up:.0f} s")
            api = Api(cloud.url, cloud.admin_key)
            authorizer_before = counted[AUTHORIZER_FUNCTION]
            bench_wallets(api, counted, args.calls, results)
            bench_members(api, counted, args.calls, args.page, results)
            results["authorizer_requests"] = counted[AUTHORIZER_FUNCTION] - authorizer_before
    say(f"elapsed {time.perf_counter() - began:.0f} s")
    say(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
