"""Local cloud benchmark: the default demo from scratch, as `make run` starts it, and the API under load
while it catches up.

  simulation_s              seconds the community simulation took (anvil)
  catch_up_s                seconds from the end of the simulation to fully caught up (every chain
                            ingested and every stream and queue idle)
  stream_records            stream records the mappings applied (Events and App table streams)
  records_per_s             stream_records / catch_up_s
  wallets_p50/p95/max_ms    latency of GET /wallets?limit=20, polled by --clients concurrent clients, each
                            with its own read key, one call every --interval seconds
  segments_p50/p95/max_ms   latency of GET /segments, polled the same way, throughout the catch-up
  ddb_requests_per_record   DynamoDB requests the functions made (shared.store.dynamo.REQUESTS) per
                            stream record applied
  function_errors           handler errors over the whole run
  api_5xx                   API answers with a 5xx status during the catch-up
  api_429                   answers refused by the per-key budget (their latencies are left out)

Everything lives in a temporary folder that is removed at the end. Human lines first, then one JSON
object as the last line. Timings are reported, never asserted.

    .venv/bin/python bench/localcloud.py [--wallets 2000] [--days 180] [--clients 4] [--interval 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from infra.localcloud.anvil import free_port, free_port_pair  # noqa: E402
from infra.localcloud.main import LocalCloud, LocalCloudConfig, terminate_on_sigterm  # noqa: E402
from shared.store.dynamo import REQUESTS  # noqa: E402

OUT = sys.stdout  # the local cloud routes stdout to its log files while it runs
PATHS = {"wallets": "/wallets?limit=20", "segments": "/segments"}


class Poller(threading.Thread):
    """One API client, with its own read key, calling the routes in turn every `interval_s` (as a dashboard
    left open refreshes) until told to stop; keeps every latency and status. Paced, because each key has a
    per-minute budget (shared.api.limits): a client in a tight loop would measure its own 429s."""

    def __init__(self, url: str, key: str, stop: threading.Event, interval_s: float) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.interval_s = url, stop, interval_s
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        self.latencies: dict[str, list[float]] = {name: [] for name in PATHS}
        self.statuses: list[int] = []

    def run(self) -> None:
        while not self.stop.is_set():
            for name, path in PATHS.items():
                started = time.perf_counter()
                try:
                    status = self.session.get(self.url + path, timeout=120).status_code
                except requests.RequestException:
                    status = 599
                took = time.perf_counter() - started
                self.statuses.append(status)
                if status != 429:
                    self.latencies[name].append(took * 1000)
                self.stop.wait(max(0.0, self.interval_s - took))


def reader_key(url: str, admin_key: str, name: str) -> str:
    created = requests.post(
        f"{url}/keys",
        json={"name": name, "scopes": ["read"]},
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=60,
    )
    created.raise_for_status()
    return str(created.json()["secret"])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wallets", type=int, default=2000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between one client's calls")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()

    marks: dict[str, float] = {"start": time.monotonic()}

    def progress(line: str) -> None:
        if line.startswith("creating tables") and "simulated" not in marks:
            marks["simulated"] = time.monotonic()
        OUT.write(f"  {line}\n")
        OUT.flush()

    with terminate_on_sigterm(), tempfile.TemporaryDirectory(prefix="kith-bench-localcloud-") as folder:
        anvil_port = free_port_pair()
        config = LocalCloudConfig(
            state_dir=Path(folder),
            api_port=free_port(),
            moto_port=free_port(),
            anvil_port=anvil_port,
            sinks_port=0,
            wallets=args.wallets,
            days=args.days,
            log_to_files=True,
        )
        cloud = LocalCloud(config, progress=progress)
        stop = threading.Event()
        pollers: list[Poller] = []
        try:
            cloud.start()
            marks.setdefault("simulated", time.monotonic())
            REQUESTS.reset()
            pollers = [
                Poller(cloud.url, reader_key(cloud.url, cloud.admin_key, f"bench client {n}"), stop, args.interval)
                for n in range(args.clients)
            ]
            for poller in pollers:
                poller.start()
            cloud.catch_up(timeout=args.timeout, on_progress=progress)
            marks["caught_up"] = time.monotonic()
            stop.set()
            for poller in pollers:
                poller.join(timeout=130)
            assert cloud.app is not None and cloud.app.runner is not None
            stats = cloud.app.runner.stats()
            records = sum(s.records for s in stats["streams"].values())
            errors = sum(stats["errors"].values())
            ddb = REQUESTS.total("dynamodb:")
            by_caller = {caller: dict(counts) for caller, counts in REQUESTS.by_caller.items()}
        finally:
            stop.set()
            cloud.stop()

    catch_up = marks["caught_up"] - marks["simulated"]
    result: dict[str, Any] = {
        "wallets": args.wallets,
        "days": args.days,
        "simulation_s": round(marks["simulated"] - marks["start"], 1),
        "catch_up_s": round(catch_up, 1),
        "stream_records": records,
        "records_per_s": round(records / catch_up, 1) if catch_up > 0 else None,
        "ddb_requests_per_record": round(ddb / records, 2) if records else None,
        "function_errors": errors,
        "api_5xx": sum(1 for p in pollers for s in p.statuses if s >= 500),
        "api_calls": sum(len(p.statuses) for p in pollers),
        "api_429": sum(1 for p in pollers for s in p.statuses if s == 429),
    }
    for name in PATHS:
        values = [v for p in pollers for v in p.latencies[name]]
        result[f"{name}_p50_ms"] = round(statistics.median(values), 1) if values else None
        result[f"{name}_p95_ms"] = round(percentile(values, 0.95), 1)
        result[f"{name}_max_ms"] = round(max(values), 1) if values else None
    OUT.write("AWS requests per stream record, by function and operation:\n")
    for caller, counts in sorted(by_caller.items(), key=lambda kv: -sum(kv[1].values())):
        busiest = sorted(counts.items(), key=lambda kv: -kv[1])[:6]
        top = ", ".join(f"{op} {n / max(records, 1):.3f}" for op, n in busiest)
        OUT.write(f"  {caller or '(outside functions)'}: {sum(counts.values()) / max(records, 1):.3f} ({top})\n")
    OUT.write(
        f"caught up {result['catch_up_s']} s after the simulation ({result['records_per_s']} records/s), "
        f"GET /wallets p95 {result['wallets_p95_ms']} ms, GET /segments p95 {result['segments_p95_ms']} ms, "
        f"{result['function_errors']} function errors, {result['api_5xx']} 5xx\n"
    )
    OUT.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
