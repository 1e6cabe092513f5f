"""Campaigns benchmark: how fast a broadcast reaches its audience through the local cloud, and what each
send costs in AWS requests.

  sends_per_s        webhooks the local sink received per second, from pressing send
                     (shared.campaigns.dispatch.start_send in the API function's environment) until the
                     sink holds one webhook per treatment target and the report's dispatch is done:
                     DispatchQueue -> DispatchFunction (pages of 200) -> SendsQueue -> SenderFunction
                     (batches of 5) -> the signed webhook, all as template.yaml wires them
  requests_per_send  AWS requests the functions made per delivered webhook: every request through
                     shared.store.dynamo.client (shared.store.dynamo.REQUESTS, a botocore before-call
                     counter, so one per API call; botocore's own retries of a call are not counted),
                     i.e. start_send's in the API function, then DispatchFunction's and
                     SenderFunction's (DynamoDB and the SQS sends), counted from just before the send
                     until the pipeline is idle again
Context keys: delivered, targeted (treatment), held_out, skipped, failed, elapsed_s, first_delivery_s,
dispatch_pages, duplicates_delivered (webhooks received minus distinct addresses; 0 when the sender's
claim works), requests_per_send_sender / requests_per_send_dispatch / requests_start_send (the same
requests by function; the last is a count, not per send), sender_handler_ms_per_send (SenderFunction's
handler time per delivered webhook: the functions run one at a time here, so this caps sends_per_s),
and poller_sqs_requests_per_send: the ReceiveMessage / DeleteMessageBatch requests the event-source
mappings of DispatchQueue and SendsQueue make (in AWS, Lambda's pollers make them on your bill),
empty receives included; the local runner long-polls for 1 s where Lambda waits up to 20 s, so idle
polling is overstated here.

What is not counted: the local runner's pollers use clients of their own (infra.localcloud.functions.
aws_client), so REQUESTS never sees them; their SQS requests are counted separately, as above, by a hook
on the clients the runner creates. The runner's DynamoDB stream reads (free for Lambda triggers in AWS)
and its own idleness checks (GetQueueAttributes) are left out. The bench's own progress reads
(shared.campaigns.store.report, run in the API function's environment) go through REQUESTS too; they
are taken while the function host's lock is held, when no handler can run, so they are subtracted
exactly. Schedules are off, so no other function runs meanwhile.

The audience is a segment whose MEMBER# items are written directly (no chain is needed: a broadcast
reads only its segment's members); none of its wallets has a profile, contact or suppression, so every
member is targeted, and 10% are held out. moto runs in a process of its own
(infra.localcloud.moto_process); the functions run in this one, one invocation at a time, their output
going to log files. Everything lives in a temporary folder that is removed at the end. Human lines
first, then one JSON object as the last line. Timings are reported, never asserted (the machine may
be shared).

    .venv/bin/python bench/campaigns.py [--recipients 1000] [--timeout 600]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

from infra.localcloud import runner as runner_module  # noqa: E402
from infra.localcloud.anvil import free_port  # noqa: E402
from infra.localcloud.functions import RoutingStream  # noqa: E402
from shared.store.dynamo import REQUESTS  # noqa: E402

# The functions print their logs and metrics to stdout; they go to log files, the bench writes here.
OUT = sys.stdout
API = "ApiFunction"
SINK = "bench"
HOLDOUT_PCT = 10
MAPPED_QUEUES = ("DispatchQueue", "SendsQueue")
POLLER_OPERATIONS = ("ReceiveMessage", "DeleteMessageBatch")
REPORT_EVERY_S = 0.25  # progress reads take the host's lock, so they are spaced out
T = TypeVar("T")


def say(message: str) -> None:
    print(message, file=OUT, flush=True)


def breakdown(counts: Counter[str], per: int | None = None) -> str:
    """Operations by count, divided by `per` (sends) when given."""
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v / per:.3f}" if per else f"{k} {v}" for k, v in ordered)


def wallet(index: int) -> str:
    return f"0x{0xCA000000 + index:040x}"


# ---- counting ------------------------------------------------------------------------------------


class PollerCounter:
    """SQS requests of the runner's clients, by queue URL and operation; empty receives apart."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.empty: Counter[str] = Counter()
        self._lock = threading.Lock()  # several poller threads count at once

    def hook(self, made: Any) -> Any:
        if made.meta.service_model.service_name == "sqs":
            # before-parameter-build sees the caller's parameters (before-call sees the serialised request)
            made.meta.events.register("before-parameter-build", self._before)
            made.meta.events.register("after-call.sqs.ReceiveMessage", self._after_receive)
        return made

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if model.name in POLLER_OPERATIONS:
            url = str(params.get("QueueUrl", ""))
            context["bench_queue_url"] = url  # after-call sees the same context, not the parameters
            with self._lock:
                self.counts[(url, model.name)] += 1

    def _after_receive(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not parsed.get("Messages"):
            with self._lock:
                self.empty[context.get("bench_queue_url", "?")] += 1

    def snapshot(self) -> tuple[Counter[tuple[str, str]], Counter[str]]:
        with self._lock:
            return Counter(self.counts), Counter(self.empty)

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.empty.clear()


@contextlib.contextmanager
def counted_runner_clients(counter: PollerCounter) -> Iterator[None]:
    """Hook every client the runner makes while it is built (its pollers create theirs then)."""
    original = runner_module.aws_client

    def counting(service: str, endpoint_url: str, region: str = "us-east-1") -> Any:
        return counter.hook(original(service, endpoint_url, region))

    runner_module.aws_client = counting
    try:
        yield
    finally:
        runner_module.aws_client = original


class FunctionRequests:
    """REQUESTS attributed to each function (REQUESTS.by_caller, keyed by the running function's name)
    and to the bench's own reads (a scope of their own), with invocations and handler seconds."""

    BENCH = "bench"

    def __init__(self) -> None:
        self.names: dict[str, str] = {}  # function name -> logical id
        self.invocations: Counter[str] = Counter()
        self.seconds: dict[str, float] = {}

    @property
    def by_function(self) -> dict[str, Counter[str]]:
        return {self.names[n]: c for n, c in REQUESTS.by_caller.items() if n in self.names}

    @property
    def bench_own(self) -> Counter[str]:
        return REQUESTS.by_caller.get(self.BENCH, Counter())

    def wrap_host(self, host: Any) -> None:
        self.names = {spec.name: logical_id for logical_id, spec in host.specs.items()}
        original = host.handler

        def handler(logical_id: str) -> Callable[[Any, Any], Any]:
            inner = original(logical_id)

            def run(event: Any, context: Any) -> Any:
                started = time.perf_counter()
                try:
                    return inner(event, context)
                finally:
                    self.seconds[logical_id] = self.seconds.get(logical_id, 0.0) + time.perf_counter() - started
                    self.invocations[logical_id] += 1

            return run

        host.handler = handler

    def as_bench(self, fn: Callable[[], T]) -> Callable[[], T]:
        def run() -> T:
            with REQUESTS.scope(self.BENCH):
                return fn()

        return run

    def reset(self) -> None:
        REQUESTS.reset()
        self.invocations.clear()
        self.seconds.clear()


# ---- the scenario --------------------------------------------------------------------------------


@contextlib.contextmanager
def routed_output(folder: Path) -> Iterator[None]:
    routing = RoutingStream(folder)
    saved = (sys.stdout, sys.stderr)
    sys.stdout, sys.stderr = routing, routing
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        routing.close_files()


def build_audience(recipients: int, webhook_url: str) -> tuple[str, str]:
    """A segment of `recipients` members and a draft webhook campaign on it; runs as the API function."""
    from shared.campaigns import store as campaigns
    from shared.campaigns.model import CampaignCreate
    from shared.segments import store as segments
    from shared.segments.rules import parse_rule
    from shared.settings import get_settings
    from shared.store import dynamo

    settings = get_settings()
    now = int(time.time())
    segment = segments.create_segment(
        "Bench audience", parse_rule({"match": {"type": "tag", "tag": "bench"}}), settings, "bench/campaigns.py"
    )
    # joined a minute ago: a broadcast freezes only members who entered before the send was pressed
    dynamo.batch_write(
        settings.app_table,
        puts=[segments.member_put(segment.segment_id, wallet(i), 1, now - 60) for i in range(recipients)],
    )
    segments.set_status(segment, "ready", recipients, settings)
    campaign = campaigns.create_campaign(
        CampaignCreate.model_validate(
            {
                "name": "Bench broadcast",
                "segment_id": segment.segment_id,
                "channel": "webhook",
                "webhook_url": webhook_url,
                "template": {"body": "gm {{ address }}"},
                "holdout_pct": HOLDOUT_PCT,
            }
        ),
        settings,
    )
    return segment.segment_id, campaign.campaign_id


def campaign_report(campaign_id: str) -> Any:
    from shared.campaigns import store as campaigns
    from shared.settings import get_settings

    settings = get_settings()
    return campaigns.report(campaigns.get_campaign(campaign_id, settings), settings)


def run_send(folder: Path, args: argparse.Namespace, results: dict[str, Any]) -> None:
    from infra.localcloud.main import LocalApp
    from infra.localcloud.moto_process import MotoProcess
    from infra.localcloud.sinks import LocalSinks, local_channels_env
    from infra.localcloud.template import load_template
    from shared.campaigns.dispatch import start_send
    from shared.settings import get_settings

    folder.mkdir(parents=True, exist_ok=True)
    secret = os.urandom(16).hex()
    pollers = PollerCounter()
    requests = FunctionRequests()
    with contextlib.ExitStack() as stop:
        moto = MotoProcess(free_port(), folder / "moto.log").start()
        stop.callback(moto.stop)
        sinks = LocalSinks(webhook_secret=secret, state_dir=folder / "deliveries").start()
        stop.callback(sinks.stop)
        environment = local_channels_env(sinks.url, secret)
        template = load_template(parameters={"ChannelsConfig": environment.pop("KITH_CHANNELS")})
        stop.enter_context(routed_output(folder / "logs"))
        app = LocalApp(
            template,
            moto.url,
            stack_name="kith-bench-campaigns",
            api_port=None,  # the bench calls the API function's code directly
            fire_schedules_at_start=False,
            # no schedule may run during the send: its requests would be counted as the campaign's
            schedules_enabled=False,
            extra_environment=environment,
        )
        started = time.perf_counter()
        app.deploy()
        assert app.host is not None
        host = app.host
        requests.wrap_host(host)
        with counted_runner_clients(pollers):
            app.start()
        stop.callback(app.stop)
        assert app.runner is not None
        runner = app.runner
        queue_urls = {s.queue_url: s.queue for s in runner.sources.queues if s.queue in MAPPED_QUEUES}
        segment_id, campaign_id = host.call_as(API, lambda: build_audience(args.recipients, sinks.webhook_url(SINK)))
        say(
            f"local cloud on moto {moto.url}: deployed and started in {time.perf_counter() - started:.1f} s; "
            f"segment {segment_id} with {args.recipients} members, webhook campaign {campaign_id} "
            f"({HOLDOUT_PCT}% held out)"
        )
        runner.drain(60)

        REQUESTS.reset()
        requests.reset()
        pollers.reset()
        sinks.reset()
        clock = time.perf_counter()
        host.call_as(API, lambda: start_send(campaign_id, get_settings()))
        first_delivery: float | None = None
        report = None
        last_report = 0.0
        deadline = clock + args.timeout
        while True:
            received = sinks.count(f"/webhook/{SINK}")
            now = time.perf_counter()
            if first_delivery is None and received:
                first_delivery = now - clock
            # once dispatch is done the targeted count is final: only the sink needs watching
            if (report is None or not report.dispatch.done) and now - last_report >= REPORT_EVERY_S:
                report = host.call_as(API, requests.as_bench(lambda: campaign_report(campaign_id)))
                last_report = time.perf_counter()
            if report is not None and report.dispatch.done and received >= report.treatment.targeted:
                elapsed = time.perf_counter() - clock
                break
            if now > deadline:
                raise RuntimeError(
                    f"after {args.timeout:.0f} s the sink holds {received} webhooks; "
                    f"report: {report.model_dump_json() if report else None}; logs in {folder / 'logs'}"
                )
            time.sleep(0.02)

        # the last sends record their outcome after their webhook, and the pollers then delete them
        while True:
            final = host.call_as(API, requests.as_bench(lambda: campaign_report(campaign_id)))
            finished = final.treatment.delivered + final.treatment.failed + final.treatment.skipped
            if finished >= final.treatment.targeted or time.perf_counter() > deadline:
                break
            time.sleep(REPORT_EVERY_S)
        runner.drain(60)
        total = REQUESTS.total()
        own = sum(requests.bench_own.values())
        poller_counts, poller_empty = pollers.snapshot()
        stats = runner.stats()

        records = sinks.deliveries(f"/webhook/{SINK}")
        addresses = {r["body"]["address"] for r in records if isinstance(r.get("body"), dict)}
        bad_signatures = sum(1 for r in records if not r.get("signature_valid"))

    delivered = len(records)
    per = max(1, delivered)
    function_requests: Counter[str] = Counter()
    for counts in requests.by_function.values():
        function_requests.update(counts)
    pipeline = total - own
    results["sends_per_s"] = round(delivered / elapsed, 1)
    results["requests_per_send"] = round(pipeline / per, 3)
    results["delivered"] = delivered
    results["targeted"] = final.treatment.targeted
    results["held_out"] = final.holdout.held_out
    results["skipped"] = sum(final.skipped_reasons.values())  # at dispatch and at send
    results["failed"] = final.treatment.failed
    results["elapsed_s"] = round(elapsed, 2)
    results["first_delivery_s"] = round(first_delivery, 2) if first_delivery is not None else None
    results["dispatch_pages"] = final.dispatch.pages
    results["duplicates_delivered"] = delivered - len(addresses)
    by_function = {name: sum(counts.values()) for name, counts in requests.by_function.items()}
    results["requests_per_send_sender"] = round(by_function.get("SenderFunction", 0) / per, 3)
    results["requests_per_send_dispatch"] = round(by_function.get("DispatchFunction", 0) / per, 3)
    results["requests_start_send"] = by_function.get(API, 0)
    results["sender_handler_ms_per_send"] = round(1000 * requests.seconds.get("SenderFunction", 0.0) / per, 1)
    # only the campaign queues' mappings: the template's other queues have idle pollers of their own
    poller_total = sum(v for (url, _), v in poller_counts.items() if url in queue_urls)
    results["poller_sqs_requests_per_send"] = round(poller_total / per, 3)

    say(
        f"send: {delivered} webhooks to {len(addresses)} distinct wallets in {elapsed:.2f} s "
        f"({results['sends_per_s']} sends/s; first after {results['first_delivery_s']} s); "
        f"{final.treatment.targeted} targeted, {final.holdout.held_out} held out, "
        f"{final.dispatch.pages} dispatch pages of {final.dispatch.members_seen} members"
    )
    say(
        f"  outcomes: delivered {final.treatment.delivered}, failed {final.treatment.failed}, "
        f"skipped {results['skipped']}; duplicates {results['duplicates_delivered']}, "
        f"bad signatures {bad_signatures}; invocations {dict(requests.invocations)}, "
        f"function errors {sum(stats['errors'].values())}"
    )
    say(
        f"requests (functions, through shared.store.dynamo): {pipeline} = {results['requests_per_send']} per send; "
        f"by operation per send: {breakdown(function_requests, per)}"
    )
    for name, counts in sorted(requests.by_function.items()):
        if name == API:
            say(f"  {name} (start_send): {by_function[name]} requests: {breakdown(counts)}")
            continue
        say(
            f"  {name}: {by_function[name]} requests over {requests.invocations[name]} invocations "
            f"({by_function[name] / per:.3f} per send; {requests.seconds[name]:.1f} s of handler time): "
            f"{breakdown(counts)}"
        )
    unattributed = pipeline - sum(function_requests.values())
    say(f"  not attributed to a function: {unattributed}; the bench's own progress reads, subtracted: {own}")
    poller_lines = []
    for url, name in sorted(queue_urls.items(), key=lambda kv: kv[1]):
        receives = poller_counts.get((url, "ReceiveMessage"), 0)
        deletes = poller_counts.get((url, "DeleteMessageBatch"), 0)
        poller_lines.append(
            f"{name} ReceiveMessage {receives} ({poller_empty.get(url, 0)} empty), DeleteMessageBatch {deletes}"
        )
    say(
        f"event-source pollers (not in requests_per_send): {poller_total} SQS requests = "
        f"{results['poller_sqs_requests_per_send']} per send; " + "; ".join(poller_lines)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=1000, help="members of the campaign's segment")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds the send may take before the bench gives up"
    )
    args = parser.parse_args()

    results: dict[str, Any] = {}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kith-bench-campaigns-") as tmp:
        run_send(Path(tmp), args, results)
    say(f"elapsed {time.perf_counter() - began:.0f} s")
    say(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
