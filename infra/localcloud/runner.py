"""The event sources of the local cloud: schedules, DynamoDB stream and SQS mappings.

moto stores event-source mappings and rules but never invokes anything, so this runner reads them
from the translated template (the only list of wiring) and invokes the handlers in process through
a FunctionHost, with events shaped exactly like AWS's. It honours what the template says about
batching, filtering, partial batch failures, bisection, retries, on-failure destinations and
redrive, so the tests exercise the same failure handling that production relies on.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from infra.localcloud.functions import (
    ACCOUNT_ID,
    FUNCTION_TYPE,
    FunctionError,
    FunctionHost,
    Resolver,
    TemplateError,
    aws_client,
)
from infra.localcloud.template import Template

log = logging.getLogger("kith.localcloud.runner")

MAX_SQS_WORKERS = 4
DEFAULT_SQS_CONCURRENCY = 2
# Records a stream poller reads ahead of delivery, as Lambda's pollers do; it also tells the backlog.
STREAM_READ_AHEAD = 10_000


# ----------------------------------------------------------------------------- event filtering
# Lambda event filtering (FilterCriteria) applies before batching. Patterns use EventBridge syntax:
# nested objects select fields; a list at a leaf means "any of": exact values (including null), prefix,
# suffix, equals-ignore-case, anything-but, numeric ranges, exists, wildcard, and $or. Several filters
# in FilterCriteria are OR-ed.

_NUMERIC_OPS = {"=", "<", "<=", ">", ">="}
_SUPPORTED = {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists", "wildcard"}


class FilterError(ValueError):
    """A FilterCriteria pattern that Lambda would reject."""


def parse_filters(criteria: dict[str, Any] | None) -> list[dict[str, Any]]:
    """FilterCriteria {"Filters": [{"Pattern": "<json>"}]} to validated pattern objects."""
    patterns: list[dict[str, Any]] = []
    for entry in (criteria or {}).get("Filters", []):
        raw = entry.get("Pattern")
        try:
            pattern = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            raise FilterError(f"filter pattern is not JSON: {raw!r} ({exc.msg})") from exc
        if not isinstance(pattern, dict):
            raise FilterError(f"a filter pattern must be a JSON object: {raw!r}")
        _validate(pattern)
        patterns.append(pattern)
    return patterns


def matches_any(patterns: list[dict[str, Any]], data: dict[str, Any]) -> bool:
    """No filters means every record passes; otherwise a record passes if any pattern matches it."""
    return not patterns or any(matches(p, data) for p in patterns)


def matches(pattern: dict[str, Any], data: Any) -> bool:
    for key, sub in pattern.items():
        if key == "$or":
            if not any(matches(p, data) for p in sub):
                return False
            continue
        present = isinstance(data, dict) and key in data
        value = data[key] if present else None
        if isinstance(sub, dict):
            candidates = value if isinstance(value, list) else [value]
            if not present or not any(isinstance(c, dict) and matches(sub, c) for c in candidates):
                return False
        elif not _match_leaf(sub, present, value):
            return False
    return True


def _match_leaf(matchers: list[Any], present: bool, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for matcher in matchers:
        if isinstance(matcher, dict) and "exists" in matcher:
            # exists applies to leaves: an object-valued field does not count as existing
            exists = present and not isinstance(value, dict)
            if bool(matcher["exists"]) == exists:
                return True
            continue
        if present and any(_match_one(matcher, v) for v in values):
            return True
    return False


def _equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    return type(expected) is type(actual) and bool(expected == actual)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    # DynamoDB stream images carry numbers as strings ({"N": "12"}); accept them for numeric matching
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _match_one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        if matcher is None:
            return value is None
        return _equal(matcher, value)
    ((op, arg),) = matcher.items()
    if op == "prefix":
        if isinstance(arg, dict):  # {"prefix": {"equals-ignore-case": "x"}}
            needle = str(arg.get("equals-ignore-case", ""))
            return isinstance(value, str) and value.lower().startswith(needle.lower())
        return isinstance(value, str) and value.startswith(arg)
    if op == "suffix":
        if isinstance(arg, dict):
            needle = str(arg.get("equals-ignore-case", ""))
            return isinstance(value, str) and value.lower().endswith(needle.lower())
        return isinstance(value, str) and value.endswith(arg)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(arg).lower()
    if op == "wildcard":
        regex = "^" + ".*".join(re.escape(part) for part in str(arg).split("*")) + "$"
        return isinstance(value, str) and re.match(regex, value, re.DOTALL) is not None
    if op == "anything-but":
        if isinstance(arg, dict):
            return value is not None and not _match_one(arg, value)
        excluded = arg if isinstance(arg, list) else [arg]
        return value is not None and not any(_equal(e, value) for e in excluded)
    if op == "numeric":
        number = _number(value)
        if number is None:
            return False
        for i in range(0, len(arg), 2):
            operator, bound = arg[i], float(arg[i + 1])
            ok = {
                "=": number == bound,
                "<": number < bound,
                "<=": number <= bound,
                ">": number > bound,
                ">=": number >= bound,
            }[operator]
            if not ok:
                return False
        return True
    raise FilterError(f"unsupported filter operator {op!r}")


def _validate(pattern: dict[str, Any]) -> None:
    for key, sub in pattern.items():
        if key == "$or":
            if not isinstance(sub, list) or len(sub) < 2:
                raise FilterError("$or needs a list of at least two patterns")
            for p in sub:
                if not isinstance(p, dict):
                    raise FilterError("every $or branch must be an object")
                _validate(p)
        elif isinstance(sub, dict):
            _validate(sub)
        elif isinstance(sub, list):
            for matcher in sub:
                _validate_matcher(matcher)
        else:
            raise FilterError(f"pattern field {key!r}: values must be arrays of matchers or nested objects")


def _validate_matcher(matcher: Any) -> None:
    if not isinstance(matcher, dict):
        if isinstance(matcher, list):
            raise FilterError("a matcher cannot be an array")
        return
    if len(matcher) != 1:
        raise FilterError(f"a matcher object has exactly one operator: {matcher!r}")
    ((op, arg),) = matcher.items()
    if op not in _SUPPORTED:
        raise FilterError(f"unsupported filter operator {op!r}")
    if op == "numeric":
        if not isinstance(arg, list) or len(arg) not in (2, 4) or len(arg) % 2:
            raise FilterError(f"numeric takes [op, n] or [op, n, op, n]: {arg!r}")
        for i in range(0, len(arg), 2):
            if arg[i] not in _NUMERIC_OPS or not isinstance(arg[i + 1], int | float):
                raise FilterError(f"bad numeric matcher: {arg!r}")
    if op == "exists" and not isinstance(arg, bool):
        raise FilterError("exists takes true or false")


# ----------------------------------------------------------------------------- wiring from the template


@dataclass(frozen=True)
class ScheduleSpec:
    logical_id: str
    function: str
    expression: str
    rule_arn: str
    input: Any = None  # the target's Input: when set, Lambda receives it instead of the event
    enabled: bool = True

    @property
    def interval(self) -> float | None:
        """Seconds between firings for rate(...); None for cron(...)."""
        return rate_seconds(self.expression)


@dataclass(frozen=True)
class StreamMappingSpec:
    logical_id: str
    function: str
    table: str
    stream_arn: str
    batch_size: int = 100
    batching_window: float = 0.0
    starting_position: str = "TRIM_HORIZON"
    filters: tuple[dict[str, Any], ...] = ()
    report_batch_item_failures: bool = False
    bisect_on_error: bool = False
    maximum_retry_attempts: int = -1  # -1: retry until the record expires, as in AWS
    maximum_record_age: int = -1
    on_failure_arn: str | None = None
    on_failure_url: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class QueueMappingSpec:
    logical_id: str
    function: str
    queue: str
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    batching_window: float = 0.0
    filters: tuple[dict[str, Any], ...] = ()
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None
    enabled: bool = True


@dataclass
class EventSources:
    schedules: list[ScheduleSpec] = field(default_factory=list)
    streams: list[StreamMappingSpec] = field(default_factory=list)
    queues: list[QueueMappingSpec] = field(default_factory=list)


def _function_of(resolver: Resolver, value: Any) -> str:
    """The logical id of the function a FunctionName / target Arn points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
    resolved = str(resolver.resolve(value))
    for logical, resource in resolver.resources.items():
        if resource["Type"] == FUNCTION_TYPE and resolved in (
            resolver.function_name(logical),
            resolver.get_att(logical, "Arn"),
        ):
            return logical
    raise TemplateError(f"{value!r} does not name a function of the template")


def _source_of(value: Any) -> tuple[str, str] | None:
    """(logical id, attribute) when an EventSourceArn is a GetAtt of this template's resource."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        logical, attribute = target if isinstance(target, list) else str(target).split(".", 1)
        return str(logical), str(attribute)
    return None


def discover_event_sources(template: Template, resolver: Resolver) -> EventSources:
    sources = EventSources()
    resources = template.cfn["Resources"]
    for logical, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Events::Rule" and "ScheduleExpression" in props:
            expression = str(resolver.resolve(props["ScheduleExpression"]))
            validate_schedule(expression)
            for target in props.get("Targets", []):
                raw_input = target.get("Input")
                sources.schedules.append(
                    ScheduleSpec(
                        logical_id=logical,
                        function=_function_of(resolver, target["Arn"]),
                        expression=expression,
                        rule_arn=f"arn:aws:events:{resolver.region}:{ACCOUNT_ID}:rule/{resolver.stack_name}-{logical}",
                        input=None if raw_input is None else json.loads(str(resolver.resolve(raw_input))),
                        enabled=str(resolver.resolve(props.get("State", "ENABLED"))) == "ENABLED",
                    )
                )
        elif resource["Type"] == "AWS::Lambda::EventSourceMapping":
            function = _function_of(resolver, props["FunctionName"])
            source = _source_of(props["EventSourceArn"])
            arn = str(resolver.resolve(props["EventSourceArn"]))
            filters = tuple(parse_filters(resolver.resolve(props.get("FilterCriteria"))))
            report = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
            enabled = bool(resolver.resolve(props.get("Enabled", True)))
            window = float(resolver.resolve(props.get("MaximumBatchingWindowInSeconds", 0)))
            if arn.startswith("arn:aws:dynamodb:"):
                table = source[0] if source else arn.split(":table/", 1)[1].split("/")[0]
                on_failure = (props.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
                on_failure_arn = None if on_failure is None else str(resolver.resolve(on_failure))
                on_failure_url = None
                if on_failure_arn is not None:
                    if not on_failure_arn.startswith("arn:aws:sqs:"):
                        raise TemplateError(f"{logical}: only SQS on-failure destinations run locally")
                    on_failure_url = queue_url_of_arn(resolver, on_failure_arn)
                sources.streams.append(
                    StreamMappingSpec(
                        logical_id=logical,
                        function=function,
                        table=table,
                        stream_arn=arn,
                        batch_size=int(resolver.resolve(props.get("BatchSize", 100))),
                        batching_window=window,
                        starting_position=str(resolver.resolve(props.get("StartingPosition", "LATEST"))),
                        filters=filters,
                        report_batch_item_failures=report,
                        bisect_on_error=bool(resolver.resolve(props.get("BisectBatchOnFunctionError", False))),
                        maximum_retry_attempts=int(resolver.resolve(props.get("MaximumRetryAttempts", -1))),
                        maximum_record_age=int(resolver.resolve(props.get("MaximumRecordAgeInSeconds", -1))),
                        on_failure_arn=on_failure_arn,
                        on_failure_url=on_failure_url,
                        enabled=enabled,
                    )
                )
            elif arn.startswith("arn:aws:sqs:"):
                scaling = resolver.resolve(props.get("ScalingConfig") or {})
                concurrency = scaling.get("MaximumConcurrency")
                sources.queues.append(
                    QueueMappingSpec(
                        logical_id=logical,
                        function=function,
                        queue=source[0] if source else arn.rsplit(":", 1)[1],
                        queue_url=queue_url_of_arn(resolver, arn),
                        queue_arn=arn,
                        batch_size=int(resolver.resolve(props.get("BatchSize", 10))),
                        batching_window=window,
                        filters=filters,
                        report_batch_item_failures=report,
                        maximum_concurrency=None if concurrency is None else int(concurrency),
                        enabled=enabled,
                    )
                )
            else:
                raise TemplateError(f"{logical}: event source {arn} is not supported locally (streams and SQS are)")
    return sources


def queue_url_of_arn(resolver: Resolver, arn: str) -> str:
    logical = resolver.logical_id_of_arn(arn)
    if logical is not None:
        return resolver.queue_url(logical)
    if resolver.endpoint_url is None:
        raise TemplateError(f"the URL of queue {arn} needs the moto endpoint")
    sqs = aws_client("sqs", resolver.endpoint_url, resolver.region)
    return str(sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"])


# ----------------------------------------------------------------------------- schedule expressions

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {
    m: i
    for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


def rate_seconds(expression: str) -> float | None:
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    amount, unit = int(match.group(1)), match.group(2).rstrip("s")
    return float(amount * _UNIT_SECONDS[unit])


def validate_schedule(expression: str) -> None:
    if rate_seconds(expression) is not None:
        return
    _cron_fields(expression)


def _cron_fields(expression: str) -> list[set[int] | None]:
    """EventBridge cron: minutes hours day-of-month month day-of-week year; None stands for '?'."""
    match = _CRON.match(expression.strip())
    if match is None:
        raise TemplateError(f"schedule {expression!r}: expected rate(...) or cron(...)")
    parts = match.group(1).split()
    if len(parts) != 6:
        raise TemplateError(f"schedule {expression!r}: cron takes six fields")
    limits = [(0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (1, 7, _DAYS), (1970, 2199, {})]
    fields: list[set[int] | None] = []
    for text, (low, high, names) in zip(parts, limits, strict=True):
        if text == "?":
            fields.append(None)
            continue
        values: set[int] = set()
        for piece in text.split(","):
            step = 1
            if "/" in piece:
                piece, step_text = piece.split("/", 1)
                step = int(step_text)
            if piece == "*":
                start, end = low, high
            elif "-" in piece:
                a, b = piece.split("-", 1)
                start, end = _cron_value(a, names, expression), _cron_value(b, names, expression)
            else:
                start = _cron_value(piece, names, expression)
                end = high if step != 1 else start
            values.update(range(start, end + 1, step))
        fields.append(values)
    return fields


def _cron_value(text: str, names: dict[str, int], expression: str) -> int:
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise TemplateError(f"schedule {expression!r}: {text!r} (L, W and # are not supported locally)")
    return int(text)


def next_cron_time(expression: str, after: dt.datetime) -> dt.datetime:
    minutes, hours, days, months, weekdays, years = _cron_fields(expression)
    assert minutes is not None and hours is not None
    day = after.replace(second=0, microsecond=0)
    start_day = day.replace(hour=0, minute=0)
    for offset in range(0, 366 * 5):
        current = start_day + dt.timedelta(days=offset)
        aws_weekday = (current.weekday() + 1) % 7 + 1  # AWS counts SUN=1 ... SAT=7
        if (months is not None and current.month not in months) or (years is not None and current.year not in years):
            continue
        if (days is not None and current.day not in days) or (weekdays is not None and aws_weekday not in weekdays):
            continue
        for hour in sorted(hours):
            for minute in sorted(minutes):
                candidate = current.replace(hour=hour, minute=minute)
                if candidate > after:
                    return candidate
    raise TemplateError(f"schedule {expression!r} never fires")


def scheduled_event(spec: ScheduleSpec, region: str, when: dt.datetime | None = None) -> dict[str, Any]:
    moment = when or dt.datetime.now(dt.UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [spec.rule_arn],
        "detail": {},
    }


# ----------------------------------------------------------------------------- event shapes


def _wire_attribute(value: Any) -> Any:
    """botocore decodes binary attributes to bytes; Lambda events carry them base64-encoded."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: _wire_attribute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire_attribute(v) for v in value]
    return value


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)


def stream_lambda_record(raw: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record in the shape Lambda delivers it (eventVersion 1.1, epoch-second times)."""
    source = raw["dynamodb"]
    body: dict[str, Any] = {}
    if "ApproximateCreationDateTime" in source:
        body["ApproximateCreationDateTime"] = int(_epoch(source["ApproximateCreationDateTime"]))
    for key in ("Keys", "NewImage", "OldImage"):
        if key in source:
            body[key] = _wire_attribute(source[key])
    body["SequenceNumber"] = str(source["SequenceNumber"])
    body["SizeBytes"] = int(source.get("SizeBytes", 0))
    body["StreamViewType"] = source.get("StreamViewType", "NEW_AND_OLD_IMAGES")
    record: dict[str, Any] = {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in raw:  # TTL deletions
        record["userIdentity"] = raw["userIdentity"]
    return record


def sqs_lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = {k: str(v) for k, v in (message.get("Attributes") or {}).items()}
    message_attributes: dict[str, Any] = {}
    for name, attr in (message.get("MessageAttributes") or {}).items():
        converted: dict[str, Any] = {
            "stringListValues": list(attr.get("StringListValues", [])),
            "binaryListValues": [_wire_attribute(v) for v in attr.get("BinaryListValues", [])],
            "dataType": attr["DataType"],
        }
        if "StringValue" in attr:
            converted["stringValue"] = attr["StringValue"]
        if "BinaryValue" in attr:
            converted["binaryValue"] = _wire_attribute(attr["BinaryValue"])
        message_attributes[name] = converted
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _sqs_filter_view(record: dict[str, Any]) -> dict[str, Any]:
    # Lambda matches a JSON body field by field; a body that is not JSON is matched as a plain string
    try:
        body = json.loads(record["body"])
    except (json.JSONDecodeError, TypeError):
        body = record["body"]
    return {**record, "body": body}


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _failed_index(response: Any, identifiers: list[str], report_failures: bool) -> int | None:
    """Where a batch failed: None for success, 0 for the whole batch, k for 'retry from record k'."""
    if not report_failures or not isinstance(response, dict) or "batchItemFailures" not in response:
        return None
    failures = response["batchItemFailures"]
    if failures is None or failures == []:
        return None
    if not isinstance(failures, list):
        return 0
    positions: list[int] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        # an identifier that is missing, empty or unknown makes Lambda treat the whole batch as failed
        if not identifier or identifier not in identifiers:
            return 0
        positions.append(identifiers.index(identifier))
    return min(positions)


# ----------------------------------------------------------------------------- pollers


@dataclass
class MappingStats:
    batches: int = 0
    records: int = 0  # delivered in successful invocations
    filtered: int = 0
    failed_invocations: int = 0
    discarded: int = 0  # sent to the on-failure destination (or dropped without one)


class _Poller(threading.Thread):
    def __init__(self, runner: Runner, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.runner = runner
        self.stopping = threading.Event()
        self.busy = False
        self.last_empty_poll = 0.0  # monotonic start time of the latest poll that found nothing to do

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.step()
            except Exception:
                # a broken poll must never stop the local cloud: log it and try again shortly
                log.exception("%s: polling failed; retrying in 1 s", self.name)
                self.busy = False
                self.stopping.wait(1.0)

    def step(self) -> None:
        raise NotImplementedError


class StreamPoller(_Poller):
    """One DynamoDB stream mapping: reads every shard in order and delivers batches like Lambda does."""

    def __init__(self, runner: Runner, spec: StreamMappingSpec) -> None:
        super().__init__(runner, f"stream:{spec.logical_id}")
        self.spec = spec
        self.client = aws_client("dynamodbstreams", runner.endpoint_url, runner.region)
        self.sqs = aws_client("sqs", runner.endpoint_url, runner.region)
        self.stats = MappingStats()
        self.iterators: dict[str, str] = {}
        self.buffer: list[dict[str, Any]] = []
        self.buffer_since = 0.0
        self.shard_id = ""

    def _ensure_iterators(self) -> None:
        if self.iterators:
            return
        stream = self.client.describe_stream(StreamArn=self.spec.stream_arn)["StreamDescription"]
        position = (
            self.spec.starting_position if self.spec.starting_position in ("TRIM_HORIZON", "LATEST") else ("LATEST")
        )
        for shard in stream.get("Shards", []):
            response = self.client.get_shard_iterator(
                StreamArn=self.spec.stream_arn, ShardId=shard["ShardId"], ShardIteratorType=position
            )
            self.iterators[shard["ShardId"]] = response["ShardIterator"]

    def step(self) -> None:
        self._ensure_iterators()
        if not self.iterators:
            self.last_empty_poll = time.monotonic()
            self.stopping.wait(self.runner.poll_interval)
            return
        # moto has one shard per table; several shards are read one after another, each in order
        for shard_id in list(self.iterators):
            if self.stopping.is_set():
                return
            self._step_shard(shard_id)

    def _step_shard(self, shard_id: str) -> None:
        self.shard_id = shard_id
        started = time.monotonic()
        fetched = 0
        if len(self.buffer) < max(self.spec.batch_size, STREAM_READ_AHEAD):
            response = self.client.get_records(ShardIterator=self.iterators[shard_id], Limit=1000)
            next_iterator = response.get("NextShardIterator")
            if next_iterator is None:
                del self.iterators[shard_id]
            else:
                self.iterators[shard_id] = next_iterator
            fetched = len(response.get("Records", []))
            if fetched:
                self.runner.touch()
            for raw in response.get("Records", []):
                record = stream_lambda_record(raw, self.spec.stream_arn, self.runner.region)
                # filtering happens before batching: a dropped record is simply checkpointed past
                if matches_any(list(self.spec.filters), record):
                    if not self.buffer:
                        self.buffer_since = time.monotonic()
                    self.buffer.append(record)
                else:
                    self.stats.filtered += 1
        if not self.buffer:
            if not fetched:
                self.last_empty_poll = started
                self.stopping.wait(self.runner.poll_interval)
            return
        full = len(self.buffer) >= self.spec.batch_size
        waited = time.monotonic() - self.buffer_since
        if not full and waited < self.spec.batching_window / self.runner.speed:
            # MaximumBatchingWindowInSeconds: gather more records until the batch fills or the window ends
            self.stopping.wait(min(self.runner.poll_interval, self.spec.batching_window))
            return
        batch = self.buffer[: self.spec.batch_size]
        self.busy = True
        try:
            self._deliver(batch)
        finally:
            del self.buffer[: len(batch)]
            self.busy = False
            self.runner.touch()

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        """Deliver `records` until they succeed or are discarded; halves retry separately when bisecting."""
        attempts = 0
        while records and not self.stopping.is_set():
            expired = self._expired(records)
            if expired:
                self._discard(records, "RecordAgeExceeded", attempts, function_error=False)
                return
            identifiers = [r["dynamodb"]["SequenceNumber"] for r in records]
            try:
                response = self.runner.host.invoke(self.spec.function, {"Records": records})
            except FunctionError:
                failed_at: int | None = 0
                raised = True
            else:
                failed_at = _failed_index(response, identifiers, self.spec.report_batch_item_failures)
                raised = False
            if failed_at is None:
                self.stats.batches += 1
                self.stats.records += len(records)
                return
            self.stats.failed_invocations += 1
            if failed_at > 0:
                # the checkpoint moves past the records before the first reported failure
                self.stats.records += failed_at
                records = records[failed_at:]
            attempts += 1
            if self.spec.maximum_retry_attempts >= 0 and attempts > self.spec.maximum_retry_attempts:
                self._discard(records, "RetryAttemptsExhausted", attempts, function_error=raised)
                return
            if raised and self.spec.bisect_on_error and len(records) > 1:
                middle = len(records) // 2
                self._deliver(records[:middle])
                self._deliver(records[middle:])
                return
            self.stopping.wait(self.runner.retry_delay(attempts))

    def _expired(self, records: list[dict[str, Any]]) -> bool:
        limit = self.spec.maximum_record_age
        if limit < 0:
            return False
        created = records[0]["dynamodb"].get("ApproximateCreationDateTime")
        return created is not None and time.time() - float(created) > limit

    def _discard(self, records: list[dict[str, Any]], condition: str, attempts: int, function_error: bool) -> None:
        self.stats.discarded += len(records)
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        log.warning(
            "%s: %s; %d record(s) %s..%s leave the stream%s",
            self.spec.logical_id,
            condition,
            len(records),
            first["SequenceNumber"],
            last["SequenceNumber"],
            " for the on-failure destination" if self.spec.on_failure_url else " (no on-failure destination)",
        )
        if self.spec.on_failure_url is None:
            return
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            response_context["functionError"] = "Unhandled"
        document = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.runner.host.spec(self.spec.function).arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": _iso(time.time()),
            "DDBStreamBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(float(first.get("ApproximateCreationDateTime", 0))),
                "approximateArrivalOfLastRecord": _iso(float(last.get("ApproximateCreationDateTime", 0))),
                "batchSize": len(records),
                "streamArn": self.spec.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.spec.on_failure_url, MessageBody=json.dumps(document))


class QueuePoller(_Poller):
    """One worker of an SQS mapping; MaximumConcurrency workers share a queue like Lambda's pollers."""

    def __init__(self, runner: Runner, spec: QueueMappingSpec, index: int, stats: MappingStats) -> None:
        super().__init__(runner, f"sqs:{spec.logical_id}#{index}")
        self.spec = spec
        self.client = aws_client("sqs", runner.endpoint_url, runner.region)
        self.stats = stats
        self.visibility_timeout = float(
            self.client.get_queue_attributes(QueueUrl=spec.queue_url, AttributeNames=["VisibilityTimeout"])[
                "Attributes"
            ]["VisibilityTimeout"]
        )
        timeout = runner.host.spec(spec.function).timeout
        if self.visibility_timeout < timeout and index == 0:
            # AWS refuses such a mapping: a message would reappear while its first delivery still runs
            log.warning(
                "%s: the queue's visibility timeout (%.0f s) is shorter than %s's timeout (%d s)",
                spec.logical_id,
                self.visibility_timeout,
                spec.function,
                timeout,
            )

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        response = self.client.receive_message(
            QueueUrl=self.spec.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def step(self) -> None:
        started = time.monotonic()
        messages = self._receive(min(10, self.spec.batch_size), 1)
        if not messages:
            self.last_empty_poll = started
            return
        self.busy = True
        try:
            self.runner.touch()
            window = self.spec.batching_window / self.runner.speed
            first = time.monotonic()
            # with a batching window (or a batch above 10) Lambda keeps receiving until full or the window ends
            while len(messages) < self.spec.batch_size and window > 0 and time.monotonic() - first < window:
                more = self._receive(min(10, self.spec.batch_size - len(messages)), 0)
                if not more:
                    self.stopping.wait(min(self.runner.poll_interval, window))
                messages += more
            self._process(messages)
        finally:
            self.busy = False
            self.runner.touch()

    def _process(self, messages: list[dict[str, Any]]) -> None:
        records = [sqs_lambda_record(m, self.spec.queue_arn, self.runner.region) for m in messages]
        wanted = [r for r in records if matches_any(list(self.spec.filters), _sqs_filter_view(r))]
        dropped = [r for r in records if r not in wanted]
        # Lambda deletes messages that its filter drops
        self._delete_messages(dropped)
        self.stats.filtered += len(dropped)
        if not wanted:
            return
        identifiers = [r["messageId"] for r in wanted]
        try:
            response = self.runner.host.invoke(self.spec.function, {"Records": wanted})
        except FunctionError:
            failed: list[dict[str, Any]] = wanted
        else:
            index = _failed_index(response, identifiers, self.spec.report_batch_item_failures)
            if index is None:
                failed = []
            elif index == 0 and not _all_identifiers_valid(response, identifiers):
                failed = wanted
            else:
                reported = {f["itemIdentifier"] for f in response["batchItemFailures"]}
                failed = [r for r in wanted if r["messageId"] in reported]
        succeeded = [r for r in wanted if r not in failed]
        self._delete_messages(succeeded)
        self.stats.batches += 1
        self.stats.records += len(succeeded)
        if failed:
            self.stats.failed_invocations += 1
            # failed messages stay in the queue and come back after its visibility timeout; moto moves
            # them to the dead-letter queue on the receive after maxReceiveCount, as SQS does
            self.runner.note_retry(self.spec.logical_id, len(failed), self.visibility_timeout)

    def _delete_messages(self, records: list[dict[str, Any]]) -> None:
        for i in range(0, len(records), 10):
            chunk = records[i : i + 10]
            self.client.delete_message_batch(
                QueueUrl=self.spec.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": r["receiptHandle"]} for n, r in enumerate(chunk)],
            )


def _all_identifiers_valid(response: dict[str, Any], identifiers: list[str]) -> bool:
    failures = response.get("batchItemFailures")
    if not isinstance(failures, list):
        return False
    return all(isinstance(f, dict) and f.get("itemIdentifier") in identifiers for f in failures)


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
        self._sqs = aws_client("sqs", self.endpoint_url, self.region)
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
