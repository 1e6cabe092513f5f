"""The runner of the local cloud's event sources: schedules, DynamoDB stream and SQS mappings.

moto stores event-source mappings and rules but never invokes anything, so this runner reads them
from the translated template (the only list of wiring) and invokes the handlers in process through
a FunctionHost, with events shaped exactly like AWS's. It honours what the template says about
batching, filtering, partial batch failures, bisection, retries, on-failure destinations and
redrive, so the tests exercise the same failure handling that production relies on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from infra.localcloud.filters import FilterError, matches, matches_any, parse_filters
from infra.localcloud.functions import (
    FunctionError,
    FunctionHost,
    Resolver,
    TemplateError,
    aws_client,
)
from infra.localcloud.pollers import STREAM_READ_AHEAD, MappingStats, QueuePoller, StreamPoller
from infra.localcloud.records import sqs_lambda_record, stream_lambda_record
from infra.localcloud.schedule import next_cron_time, rate_seconds, scheduled_event, validate_schedule
from infra.localcloud.sources import (
    EventSources,
    QueueMappingSpec,
    ScheduleSpec,
    StreamMappingSpec,
    discover_event_sources,
    queue_url_of_arn,
)
from infra.localcloud.template import Template

__all__ = [
    "STREAM_READ_AHEAD",
    "DrainTimeout",
    "EventSources",
    "FilterError",
    "MappingStats",
    "QueueMappingSpec",
    "QueuePoller",
    "Runner",
    "ScheduleSpec",
    "Scheduler",
    "StreamMappingSpec",
    "StreamPoller",
    "discover_event_sources",
    "matches",
    "matches_any",
    "next_cron_time",
    "parse_filters",
    "queue_url_of_arn",
    "rate_seconds",
    "scheduled_event",
    "sqs_lambda_record",
    "stream_lambda_record",
    "validate_schedule",
    "wait_until",
]

log = logging.getLogger("kith.localcloud.runner")

MAX_SQS_WORKERS = 4
DEFAULT_SQS_CONCURRENCY = 2


class Scheduler(threading.Thread):
    """Fires the template's schedules: once at start (optionally), then every interval / speed."""

    def __init__(self, runner: Runner, schedules: list[ScheduleSpec], fire_at_start: bool) -> None:
        super().__init__(name="schedules", daemon=True)
        self.runner = runner
        self.schedules = [s for s in schedules if s.enabled]
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.busy = False
        self.lock = threading.Lock()
        now = time.monotonic()
        self.due: dict[int, float] = {}
        self.virtual: dict[int, dt.datetime] = {}
        for i in range(len(self.schedules)):
            self.virtual[i] = dt.datetime.now(dt.UTC)
            self.due[i] = now if fire_at_start else now + self._delay(i)

    def _delay(self, index: int) -> float:
        spec = self.schedules[index]
        interval = spec.interval
        if interval is not None:
            return interval / self.runner.speed
        after = self.virtual[index]
        following = next_cron_time(spec.expression, after)
        self.virtual[index] = following
        return (following - after).total_seconds() / self.runner.speed

    def pending(self) -> bool:
        now = time.monotonic()
        with self.lock:
            return self.busy or any(t <= now for t in self.due.values())

    def trigger(self, function: str) -> bool:
        found = False
        with self.lock:
            for i, spec in enumerate(self.schedules):
                if spec.function == function:
                    self.due[i] = time.monotonic()
                    found = True
        self.wake.set()
        return found

    def run(self) -> None:
        while not self.stopping.is_set():
            now = time.monotonic()
            with self.lock:
                ready = [i for i, t in self.due.items() if t <= now]
                self.busy = bool(ready)
                for i in ready:
                    self.due[i] = now + self._delay(i)
            for i in ready:
                self.runner.fire(self.schedules[i])
            with self.lock:
                self.busy = False
                wait = min((t - time.monotonic() for t in self.due.values()), default=1.0)
            self.wake.wait(max(0.01, min(wait, 1.0)))
            self.wake.clear()


# ----------------------------------------------------------------------------- the runner


class DrainTimeout(TimeoutError):
    """The pipeline did not become idle in time; the message says what was still busy."""


@dataclass
class _Retry:
    count: int
    visible_at: float


class Runner:
    """Reads the event sources from the translated template and drives the handlers through `host`."""

    def __init__(
        self,
        template: Template,
        resolver: Resolver,
        host: FunctionHost,
        *,
        speed: float = 1.0,
        poll_interval: float = 0.1,
        retry_base_delay: float = 0.2,
        fire_schedules_at_start: bool = True,
        schedules_enabled: bool = True,
    ) -> None:
        if resolver.endpoint_url is None:
            raise TemplateError("the runner needs the moto endpoint")
        self.template = template
        self.resolver = resolver
        self.host = host
        self.endpoint_url: str = resolver.endpoint_url
        self.region = resolver.region
        self.speed = speed
        self.poll_interval = poll_interval
        self.retry_base_delay = retry_base_delay
        self.sources = discover_event_sources(template, resolver)
        self.stream_pollers = [StreamPoller(self, s) for s in self.sources.streams if s.enabled]
        self.queue_pollers: list[QueuePoller] = []
        self.queue_stats: dict[str, MappingStats] = {}
        for spec in self.sources.queues:
            if not spec.enabled:
                continue
            stats = self.queue_stats.setdefault(spec.logical_id, MappingStats())
            workers = min(spec.maximum_concurrency or DEFAULT_SQS_CONCURRENCY, MAX_SQS_WORKERS)
            self.queue_pollers += [QueuePoller(self, spec, i, stats) for i in range(workers)]
        self.scheduler = Scheduler(self, self.sources.schedules, fire_schedules_at_start)
        self.schedules_enabled = schedules_enabled
        self.schedule_fired: Counter[str] = Counter()
        self._activity = 0
        self._activity_lock = threading.Lock()
        self._retries: dict[str, list[_Retry]] = {}
        self._sqs = self.client("sqs")
        self._started = False

    # -- lifecycle

    def start(self) -> Runner:
        for poller in [*self.stream_pollers, *self.queue_pollers]:
            poller.start()
        if self.schedules_enabled:
            self.scheduler.start()
        self._started = True
        return self

    def stop(self, timeout: float = 10.0) -> None:
        threads: list[threading.Thread] = [*self.stream_pollers, *self.queue_pollers]
        for poller in [*self.stream_pollers, *self.queue_pollers]:
            poller.stopping.set()
        self.scheduler.stopping.set()
        self.scheduler.wake.set()
        if self.scheduler.is_alive():
            threads.append(self.scheduler)
        deadline = time.monotonic() + timeout
        for thread in threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        self._started = False

    def __enter__(self) -> Runner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what pollers report

    def client(self, service: str) -> Any:
        """A client of the moto endpoint; pollers take theirs here so one hook sees every client the runner makes."""
        return aws_client(service, self.endpoint_url, self.region)

    def touch(self) -> None:
        with self._activity_lock:
            self._activity += 1

    def retry_delay(self, attempts: int) -> float:
        return float(min(self.retry_base_delay * 2 ** (attempts - 1), 5.0))

    def note_retry(self, mapping: str, count: int, visibility_timeout: float) -> None:
        with self._activity_lock:
            self._retries.setdefault(mapping, []).append(_Retry(count, time.monotonic() + visibility_timeout))

    def _waiting_retries(self, mapping: str) -> int:
        now = time.monotonic()
        with self._activity_lock:
            # a message comes back when its visibility timeout ends; after that it is ordinary backlog
            live = [r for r in self._retries.get(mapping, []) if r.visible_at + 1.0 > now]
            self._retries[mapping] = live
            return sum(r.count for r in live)

    # -- schedules

    def fire(self, spec: ScheduleSpec) -> Any:
        event = spec.input if spec.input is not None else scheduled_event(spec, self.region)
        self.schedule_fired[spec.logical_id] += 1
        self.touch()
        try:
            return self.host.invoke(spec.function, event)
        except FunctionError as exc:
            # EventBridge invokes asynchronously: the error is logged, nobody waits for it
            log.warning("schedule %s -> %s failed: %s", spec.logical_id, spec.function, exc)
            return None
        finally:
            self.touch()

    def trigger_now(self, function: str, wait: bool = False) -> Any:
        """Fire `function`'s schedule now: in this thread when `wait`, else through the scheduler."""
        specs = [s for s in self.sources.schedules if s.function == function]
        if not specs:
            raise TemplateError(f"{function} has no schedule in the template")
        if wait or not self.scheduler.is_alive():
            return [self.fire(s) for s in specs][-1]
        self.scheduler.trigger(function)
        return None

    # -- idleness

    def _queue_counts(self, url: str) -> dict[str, int]:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return {n: int(attributes.get(n, 0)) for n in names}

    def busy_reasons(self, since: float, include_retries: bool = True) -> Iterator[str]:
        """What keeps the pipeline from being idle, judged by polls that started after `since`.

        Lazily, cheapest first: asking a queue its counts makes moto scan the queue, so a drain that only
        needs to know "busy or not" takes the first reason and asks no queue while anything else is busy."""
        if self.host.in_flight:
            yield f"{self.host.in_flight} invocation(s) in flight"
        if self.scheduler.is_alive() and self.scheduler.pending():
            yield "a schedule is firing"
        for stream in self.stream_pollers:
            if stream.busy or stream.buffer:
                yield f"{stream.spec.logical_id}: {len(stream.buffer)} record(s) being delivered"
            elif stream.last_empty_poll < since:
                yield f"{stream.spec.logical_id}: stream not yet read to its end"
        for queue in self.queue_pollers:
            if queue.busy:
                yield f"{queue.spec.logical_id}: a batch is being processed"
        seen: set[str] = set()
        for queue in self.queue_pollers:
            if queue.spec.logical_id in seen:
                continue
            seen.add(queue.spec.logical_id)
            counts = self._queue_counts(queue.spec.queue_url)
            visible = counts["ApproximateNumberOfMessages"] + counts["ApproximateNumberOfMessagesDelayed"]
            invisible = counts["ApproximateNumberOfMessagesNotVisible"]
            if visible:
                yield f"{queue.spec.queue}: {visible} message(s) waiting"
            if invisible:
                retrying = self._waiting_retries(queue.spec.logical_id)
                if include_retries or invisible > retrying:
                    yield (
                        f"{queue.spec.queue}: {invisible} message(s) in flight or waiting for their "
                        f"visibility timeout to be retried"
                    )

    def drain(self, timeout: float = 60.0, include_retries: bool = True) -> None:
        """Return once every stream is read to its end, every mapped queue is empty and nothing runs.

        `include_retries=False` treats messages that failed and wait out their visibility timeout as
        done (their retry may be minutes away). Raises DrainTimeout naming what is still busy.
        """
        if not self._started:
            raise RuntimeError("start the runner before draining it")
        deadline = time.monotonic() + timeout
        since, activity = time.monotonic(), self._current_activity()
        while time.monotonic() < deadline:
            time.sleep(self.poll_interval / 2)
            current = self._current_activity()
            if current != activity:
                # something was read or invoked: start over, and wait for fresh polls after it
                since, activity = time.monotonic(), current
                continue
            # idle means: every stream poller found nothing in a poll that began after `since`,
            # every mapped queue is empty, and nothing was read or invoked meanwhile
            if next(self.busy_reasons(since, include_retries), None) is not None:
                continue
            if self._current_activity() == activity:
                return
        reasons = list(self.busy_reasons(since, include_retries)) or ["records read or functions invoked to the end"]
        raise DrainTimeout(f"the local cloud is still busy after {timeout:.0f} s: " + "; ".join(reasons))

    def _current_activity(self) -> int:
        with self._activity_lock:
            return self._activity

    # -- numbers for progress lines and benchmarks

    def stream_backlog(self) -> tuple[int, int]:
        """(stream records applied, stream records read but not yet applied) over every stream mapping."""
        applied = sum(p.stats.records + p.stats.discarded for p in self.stream_pollers)
        return applied, sum(len(p.buffer) for p in self.stream_pollers)

    def stats(self) -> dict[str, Any]:
        return {
            "invocations": dict(self.host.stats.invocations),
            "errors": dict(self.host.stats.errors),
            "schedules": dict(self.schedule_fired),
            "streams": {p.spec.logical_id: p.stats for p in self.stream_pollers},
            "queues": dict(self.queue_stats),
        }


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition` until true or `timeout`; tests and the demo use it for eventual effects."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if condition():
                return True
        time.sleep(interval)
    return False
