"""Cost model: Kith's AWS bill per month in us-east-1, from the requests its own code makes.

Every figure comes from running Kith's code against moto and counting what it asks of AWS:

  * DynamoDB read and write request units from the items each request reads or writes, by DynamoDB's
    own rules (writes: 1 unit per KB of the item, twice in a transaction, once more per global index
    the item is in; reads: 1 unit per 4 KB, half for an eventually consistent read, a Query summed
    before rounding, each BatchGetItem item rounded alone). The sizes are the items' real sizes:
    an UpdateItem or DeleteItem is sized by reading the item through a second, uncounted client.
  * SQS requests (one per 64 KB of payload) and EventBridge events (PutEvents entries).
  * Lambda invocations, from the template's batch settings and schedules, and GB-seconds: the CPU
    time Kith's code took here plus a round trip (ROUND_TRIP_MS) per AWS request it made (and one
    WEBHOOK_ROUND_TRIP_MS per delivery), times the function's memory from template.yaml.
  * API Gateway REST requests, and DynamoDB storage (the bytes the run left in the tables).

The cases:
  transfers   1,000,000 ERC-20 transfers ingested a month: ingest writes them (Events table), the
              profiles function applies them, the segments function re-derives each changed wallet.
              Measured on --transfers synthetic in-order transfers among --wallets wallets.
  wallets     100,000 wallets with daily activity: one transfer per wallet per day (3,000,000 a month,
              priced with the per-transfer figures of the first case at this ratio of wallets), plus
              the hourly sweep, the nightly churn refit (measured on the first case's wallets), and
              the dashboard's API reads (DASHBOARD_READS_PER_DAY GET /wallets pages through the
              authorizer).
  sends       1,000,000 campaign sends a month: dispatch and sender through the local cloud
              (bench/campaigns.py's pipeline, --recipients members), webhooks to a local sink.

Prices are us-east-1's published on-demand prices, in PRICES below (the one place they are written);
free tiers are left out. Human lines first, then one JSON object as the last line.

    .venv/bin/python bench/cost.py [--transfers 1500] [--wallets 300] [--recipients 300]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# ---- us-east-1 on-demand prices (USD), the one place they are written ----------------------------
PRICES = {
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand write request unit
    "dynamodb_read_unit": 0.125 / 1e6,  # on-demand read request unit
    "dynamodb_storage_gb_month": 0.25,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,  # x86_64
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB chunk
    "eventbridge_event": 1.00 / 1e6,  # custom events, per 64 KB chunk
    "api_gateway_request": 3.50 / 1e6,  # REST API, first 333 million a month
}
ROUND_TRIP_MS = 8.0  # one DynamoDB, SQS or EventBridge request from a function in the same region
WEBHOOK_ROUND_TRIP_MS = 150.0  # one delivery to the customer's endpoint (or a chat or email provider)
MONTH_DAYS = 30
TRANSFERS_A_MONTH = 1_000_000
ACTIVE_WALLETS = 100_000
SENDS_A_MONTH = 1_000_000
DASHBOARD_READS_PER_DAY = 1_000
KB = 1024


def say(message: str) -> None:
    print(message, flush=True)


# ---- what DynamoDB charges for an item ---------------------------------------------------------


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one typed attribute value, by DynamoDB's item-size rules."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(inner) if isinstance(inner, bytes) else len(inner) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode()) for v in inner)
    if kind == "NS":
        return sum(value_size({"N": v}) for v in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + value_size(v) for k, v in inner.items())
    return 0


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


# the App table's global indexes: gsi1 and gsi2 project every attribute, gsi3 only the keys
INDEXES = (("gsi1pk", "ALL"), ("gsi2pk", "ALL"), ("gsi3pk", "KEYS_ONLY"))


def write_units(new: dict[str, Any] | None, old: dict[str, Any] | None) -> float:
    units = float(max(1, math.ceil(max(item_size(new), item_size(old)) / KB)))
    for attribute, projection in INDEXES:
        for image in (old, new):
            if image and attribute in image:
                units += 1 if projection == "KEYS_ONLY" else max(1, math.ceil(item_size(image) / KB))
    return units


def read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / (4 * KB))) * (1.0 if consistent else 0.5)


# ---- the meter: a botocore hook on every client shared.store.dynamo hands out --------------------


@dataclass
class Tally:
    read_units: float = 0.0
    write_units: float = 0.0
    requests: Counter[str] = field(default_factory=Counter)
    sqs_requests: int = 0
    events: int = 0

    def add(self, other: Tally) -> None:
        self.read_units += other.read_units
        self.write_units += other.write_units
        self.requests.update(other.requests)
        self.sqs_requests += other.sqs_requests
        self.events += other.events

    @property
    def aws_requests(self) -> int:
        return sum(self.requests.values())


class Meter:
    def __init__(self) -> None:
        self.tally = Tally()
        self._lock = threading.Lock()
        self._shadow: dict[str, Any] = {}
        self._pending = threading.local()

    def reset(self) -> Tally:
        with self._lock:
            taken, self.tally = self.tally, Tally()
        return taken

    def install(self) -> None:
        from shared.store import dynamo

        original = dynamo._client
        meter = self

        def metered(service: str, endpoint: str, region: str) -> Any:
            made = original(service, endpoint, region)
            if not getattr(made, "_kith_metered", False):
                made.meta.events.register("before-parameter-build", meter._before)
                made.meta.events.register("after-call", meter._after)
                made._kith_metered = True
            return made

        dynamo._client = metered  # type: ignore[assignment]

    def _shadow_client(self, model: Any) -> Any:
        """An unmetered client of the same service and endpoint, to size the items a write touches."""
        import os

        import boto3

        service, endpoint = model.service_model.service_name, os.environ.get("AWS_ENDPOINT_URL")
        with self._lock:
            made = self._shadow.get(f"{service}@{endpoint}")
            if made is None:
                made = self._shadow[f"{service}@{endpoint}"] = boto3.session.Session().client(
                    service, endpoint_url=endpoint
                )
        return made

    def _get(self, model: Any, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        found = self._shadow_client(model).get_item(TableName=table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = found.get("Item")
        return item

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service, name = model.service_model.service_name, model.name
        old: Any = None
        if service == "dynamodb" and name in ("UpdateItem", "DeleteItem", "PutItem"):
            old = self._get(model, params["TableName"], params["Key"] if "Key" in params else _key_of(params["Item"]))
        elif service == "dynamodb" and name == "TransactWriteItems":
            old = []
            for action in params["TransactItems"]:
                ((kind, body),) = action.items()
                key = body.get("Key") or _key_of(body.get("Item", {}))
                old.append(self._get(model, body["TableName"], key) if kind in ("Update", "Delete", "Put") else None)
        elif service == "dynamodb" and name == "BatchWriteItem":
            old = {}
            for table, writes in params["RequestItems"].items():
                for write in writes:
                    if "DeleteRequest" in write:
                        key = write["DeleteRequest"]["Key"]
                        old[(table, json.dumps(key, sort_keys=True))] = self._get(model, table, key)
        self._pending.params = params
        self._pending.old = old

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        service, name = model.service_model.service_name, model.name
        params: dict[str, Any] = getattr(self._pending, "params", {})
        old = getattr(self._pending, "old", None)
        tally = Tally()
        tally.requests[f"{service}:{name}"] += 1
        if service == "dynamodb":
            self._dynamodb(model, name, params, parsed, old, tally)
        elif service == "sqs":
            payload = json.dumps(params.get("Entries") or params.get("MessageBody") or "").encode()
            tally.sqs_requests += max(1, math.ceil(len(payload) / (64 * KB)))
        elif service == "events" and name == "PutEvents":
            tally.events += sum(max(1, math.ceil(len(json.dumps(e).encode()) / (64 * KB))) for e in params["Entries"])
        with self._lock:
            self.tally.add(tally)

    def _dynamodb(
        self, model: Any, name: str, params: dict[str, Any], parsed: dict[str, Any], old: Any, tally: Tally
    ) -> None:
        consistent = bool(params.get("ConsistentRead"))
        if name == "GetItem":
            tally.read_units += read_units(item_size(parsed.get("Item")), consistent)
        elif name == "BatchGetItem":
            for table, items in parsed.get("Responses", {}).items():
                table_consistent = bool(params["RequestItems"].get(table, {}).get("ConsistentRead"))
                tally.read_units += sum(read_units(item_size(i), table_consistent) for i in items)
        elif name in ("Query", "Scan"):
            tally.read_units += read_units(sum(item_size(i) for i in parsed.get("Items", [])), consistent)
        elif name == "TransactGetItems":
            tally.read_units += sum(2 * read_units(item_size(r.get("Item")), True) for r in parsed.get("Responses", []))
        elif name == "PutItem":
            tally.write_units += write_units(params["Item"], old)
        elif name == "UpdateItem":
            tally.write_units += write_units(self._get(model, params["TableName"], params["Key"]), old)
        elif name == "DeleteItem":
            tally.write_units += write_units(None, old)
        elif name == "BatchWriteItem":
            for table, writes in params["RequestItems"].items():
                for write in writes:
                    if "PutRequest" in write:
                        tally.write_units += write_units(write["PutRequest"]["Item"], None)
                    else:
                        key = json.dumps(write["DeleteRequest"]["Key"], sort_keys=True)
                        tally.write_units += write_units(None, (old or {}).get((table, key)))
        elif name == "TransactWriteItems":
            for action, before in zip(params["TransactItems"], old or [], strict=False):
                ((kind, body),) = action.items()
                if kind == "Put":
                    after = body["Item"]
                elif kind == "Update":
                    after = self._get(model, body["TableName"], body["Key"])
                else:
                    after = None
                tally.write_units += 2 * (write_units(after, before) if kind != "ConditionCheck" else 1)


def _key_of(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in ("pk", "sk")}


METER = Meter()


@contextmanager
def stage(cpu: dict[str, float], name: str) -> Iterator[None]:
    started = time.process_time()
    try:
        yield
    finally:
        cpu[name] = cpu.get(name, 0.0) + time.process_time() - started


# ---- Lambda from the template --------------------------------------------------------------------


def memory_mb(function: str) -> int:
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse((ROOT / "template.yaml").read_text())
    default = int(template["Globals"]["Function"].get("MemorySize", 128))
    return int(template["Resources"][function]["Properties"].get("MemorySize", default))


def gb_seconds(function: str, cpu_s: float, aws_requests: int) -> float:
    return memory_mb(function) / 1024 * (cpu_s + aws_requests * ROUND_TRIP_MS / 1000)


@dataclass
class Bill:
    dynamodb_reads: float = 0.0  # read units
    dynamodb_writes: float = 0.0
    storage_gb: float = 0.0
    lambda_invocations: float = 0.0
    lambda_gb_s: float = 0.0
    sqs_requests: float = 0.0
    eventbridge_events: float = 0.0
    api_requests: float = 0.0

    def dollars(self) -> dict[str, float]:
        lines = {
            "dynamodb_reads": self.dynamodb_reads * PRICES["dynamodb_read_unit"],
            "dynamodb_writes": self.dynamodb_writes * PRICES["dynamodb_write_unit"],
            "dynamodb_storage": self.storage_gb * PRICES["dynamodb_storage_gb_month"],
            "lambda_requests": self.lambda_invocations * PRICES["lambda_request"],
            "lambda_compute": self.lambda_gb_s * PRICES["lambda_gb_second"],
            "sqs": self.sqs_requests * PRICES["sqs_request"],
            "eventbridge": self.eventbridge_events * PRICES["eventbridge_event"],
            "api_gateway": self.api_requests * PRICES["api_gateway_request"],
        }
        lines["total"] = sum(lines.values())
        return {k: round(v, 2) for k, v in lines.items()}

    def scaled(self, factor: float) -> Bill:
        return Bill(**{k: v * factor for k, v in self.__dict__.items()})

    def plus(self, other: Bill) -> Bill:
        return Bill(**{k: v + getattr(other, k) for k, v in self.__dict__.items()})


def table_bytes(table: str) -> int:
    from shared.store.dynamo import client

    total, request = 0, {"TableName": table}
    while True:
        page = client("dynamodb").scan(**request)
        total += sum(item_size(i) + 100 for i in page.get("Items", []))  # DynamoDB adds 100 bytes an item
        if "LastEvaluatedKey" not in page:
            return total
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# ---- case 1 and 2: transfers through ingest, profiles and segments ----------------------------------


def measure_transfers(folder: Path, transfers: int, wallets: int) -> dict[str, Any]:
    import profiles as profiles_bench  # bench/profiles.py: the synthetic stream and moto stacks

    from shared.ingest import write_events
    from shared.intel import refit_churn_model
    from shared.profiles.store import apply_changes
    from shared.segments.wallets import evaluate_wallets
    from shared.store.dynamo import REQUESTS

    moto = profiles_bench.MotoStacks(folder / "moto")
    try:
        settings = moto.stack()
        stream = profiles_bench.transfer_stream(transfers, wallets, int(time.time()), seed=13)
        cpu: dict[str, float] = {}
        tallies: dict[str, Tally] = {}
        with profiles_bench.environment(moto.endpoint, settings):
            METER.reset()
            REQUESTS.reset()
            batch = profiles_bench.BATCH
            for start in range(0, len(stream), batch):
                events = stream[start : start + batch]
                with stage(cpu, "IngestFunction"):
                    write_events(settings.events_table, events, workers=1)
                tallies.setdefault("IngestFunction", Tally()).add(METER.reset())
                with stage(cpu, "ProfilesFunction"):
                    apply_changes([(None, e) for e in events], settings)
                tallies.setdefault("ProfilesFunction", Tally()).add(METER.reset())
                changed = sorted(
                    {a for e in events for a in (e.from_address, e.to_address) if a != profiles_bench.ZERO}
                )
                with stage(cpu, "SegmentsFunction"):
                    evaluate_wallets(changed, settings)
                tallies.setdefault("SegmentsFunction", Tally()).add(METER.reset())
            stored = table_bytes(settings.events_table) + table_bytes(settings.app_table)
            METER.reset()
            with stage(cpu, "ChurnFitFunction"):
                refit_churn_model(settings=settings)
            tallies["ChurnFitFunction"] = METER.reset()
    finally:
        moto.stop()
    per = {
        name: {
            "read_units": t.read_units / len(stream),
            "write_units": t.write_units / len(stream),
            "aws_requests": t.aws_requests / len(stream),
            "cpu_s": cpu[name] / len(stream),
            "events": t.events / len(stream),
            "sqs": t.sqs_requests / len(stream),
        }
        for name, t in tallies.items()
        if name != "ChurnFitFunction"
    }
    churn = tallies["ChurnFitFunction"]
    return {
        "transfers": len(stream),
        "wallets": wallets,
        "per_transfer": per,
        "bytes_per_transfer": stored / len(stream),
        "churnfit_per_wallet": {
            "read_units": churn.read_units / wallets,
            "write_units": churn.write_units / wallets,
            "aws_requests": churn.aws_requests / wallets,
            "cpu_s": cpu["ChurnFitFunction"] / wallets,
        },
    }


def transfers_bill(measured: dict[str, Any], monthly: int, invocations: dict[str, float]) -> Bill:
    bill = Bill(storage_gb=measured["bytes_per_transfer"] * monthly / 1e9)
    for function, per in measured["per_transfer"].items():
        bill.dynamodb_reads += per["read_units"] * monthly
        bill.dynamodb_writes += per["write_units"] * monthly
        bill.eventbridge_events += per["events"] * monthly
        bill.sqs_requests += per["sqs"] * monthly
        bill.lambda_gb_s += gb_seconds(function, per["cpu_s"] * monthly, int(per["aws_requests"] * monthly))
    for function, count in invocations.items():
        bill.lambda_invocations += count
        bill.lambda_gb_s += memory_mb(function) / 1024 * count * 0.005  # each invocation's own overhead
    return bill


def stream_invocations(monthly: int) -> dict[str, float]:
    """Lambda invocations a month: ingest on its schedule, and the stream consumers at most once per
    ingest run (a run's events arrive together, well under the profiles mapping's 1,000-record batch
    at these rates), or once per batch when a minute holds more."""
    runs = MONTH_DAYS * 24 * 60
    per_run = monthly / runs
    return {
        "IngestFunction": runs,
        "ProfilesFunction": runs * max(1, math.ceil(per_run / 1000)),
        "SegmentsFunction": runs * max(1, math.ceil(per_run * 2 / 10000)),
    }


# ---- case 3: campaign sends through the local cloud ----------------------------------------------


def measure_sends(folder: Path, recipients: int) -> dict[str, Any]:
    import campaigns as campaigns_bench  # bench/campaigns.py: the pipeline through the local cloud

    results: dict[str, Any] = {}
    METER.reset()
    started = time.process_time()
    campaigns_bench.run_send(folder, argparse.Namespace(recipients=recipients, timeout=600.0), results)
    cpu = time.process_time() - started
    tally = METER.reset()
    delivered = max(1, int(results["delivered"]))
    return {
        "delivered": delivered,
        "read_units_per_send": tally.read_units / delivered,
        "write_units_per_send": tally.write_units / delivered,
        "sqs_per_send": tally.sqs_requests / delivered + float(results["poller_sqs_requests_per_send"]),
        "aws_requests_per_send": tally.aws_requests / delivered,
        # the CPU of the whole local pipeline per send: an upper bound on the functions' own (it includes
        # the local runner and the webhook sink); moto's CPU is in its own process and not counted
        "cpu_ms_per_send": 1000 * cpu / delivered,
        "local_handler_ms_per_send": float(results["sender_handler_ms_per_send"]),
        "dispatch_pages": int(results["dispatch_pages"]),
    }


def sends_bill(measured: dict[str, Any], monthly: int) -> Bill:
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse((ROOT / "template.yaml").read_text())
    batch = int(template["Resources"]["SenderFunction"]["Properties"]["Events"]["Sends"]["Properties"]["BatchSize"])
    invocations = monthly / batch + measured["dispatch_pages"] / measured["delivered"] * monthly
    per_send_s = (
        measured["cpu_ms_per_send"] / 1000
        + measured["aws_requests_per_send"] * ROUND_TRIP_MS / 1000
        + WEBHOOK_ROUND_TRIP_MS / 1000
    )
    seconds = monthly * per_send_s
    return Bill(
        dynamodb_reads=measured["read_units_per_send"] * monthly,
        dynamodb_writes=measured["write_units_per_send"] * monthly,
        lambda_invocations=invocations,
        lambda_gb_s=memory_mb("SenderFunction") / 1024 * seconds,
        sqs_requests=measured["sqs_per_send"] * monthly,
        api_requests=3,  # create, send, report: a campaign's own API calls
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transfers", type=int, default=1500, help="synthetic transfers measured")
    parser.add_argument("--wallets", type=int, default=300, help="wallets they move between")
    parser.add_argument("--recipients", type=int, default=300, help="campaign recipients measured")
    args = parser.parse_args()
    METER.install()
    results: dict[str, Any] = {"prices": PRICES, "round_trip_ms": ROUND_TRIP_MS}
    with tempfile.TemporaryDirectory(prefix="kith-bench-cost-") as tmp:
        measured = measure_transfers(Path(tmp) / "transfers", args.transfers, args.wallets)
        say(f"measured {measured['transfers']} transfers among {measured['wallets']} wallets:")
        for function, per in measured["per_transfer"].items():
            say(
                f"  {function:18} per transfer: {per['read_units']:.2f} read units, {per['write_units']:.2f} "
                f"write units, {per['aws_requests']:.2f} AWS requests, {1000 * per['cpu_s']:.2f} ms CPU"
            )
        say(f"  storage: {measured['bytes_per_transfer']:.0f} bytes per transfer (both tables)")
        sends = measure_sends(Path(tmp) / "sends", args.recipients)
        say(
            f"measured {sends['delivered']} campaign sends: {sends['read_units_per_send']:.2f} read units, "
            f"{sends['write_units_per_send']:.2f} write units, {sends['sqs_per_send']:.2f} SQS requests, "
            f"{sends['cpu_ms_per_send']:.1f} ms CPU per send (the local pipeline's)"
        )

    cases: dict[str, Bill] = {}
    cases["transfers"] = transfers_bill(measured, TRANSFERS_A_MONTH, stream_invocations(TRANSFERS_A_MONTH))
    daily = ACTIVE_WALLETS * MONTH_DAYS
    wallets = transfers_bill(measured, daily, stream_invocations(daily))
    churn = measured["churnfit_per_wallet"]
    nights = MONTH_DAYS * ACTIVE_WALLETS
    wallets = wallets.plus(
        Bill(
            dynamodb_reads=churn["read_units"] * nights,
            dynamodb_writes=churn["write_units"] * nights,
            # the refit nightly, the sweep hourly, and each dashboard page's API and (uncached) authorizer call
            lambda_invocations=MONTH_DAYS + MONTH_DAYS * 24 + 2 * DASHBOARD_READS_PER_DAY * MONTH_DAYS,
            lambda_gb_s=gb_seconds("ChurnFitFunction", churn["cpu_s"] * nights, int(churn["aws_requests"] * nights)),
            api_requests=DASHBOARD_READS_PER_DAY * MONTH_DAYS,
        )
    )
    cases["wallets"] = wallets
    cases["sends"] = sends_bill(sends, SENDS_A_MONTH)

    say("")
    say(f"{'$/month, us-east-1':28}" + "".join(f"{name:>14}" for name in cases))
    dollars = {name: bill.dollars() for name, bill in cases.items()}
    for line in next(iter(dollars.values())):
        say(f"  {line:26}" + "".join(f"{dollars[name][line]:>14,.2f}" for name in cases))
    results["cases"] = {
        name: {"usd": dollars[name], "quantities": {k: round(v, 1) for k, v in bill.__dict__.items()}}
        for name, bill in cases.items()
    }
    results["measured"] = {"transfers": measured, "sends": sends}
    say(json.dumps(results, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
