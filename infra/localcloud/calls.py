"""Every AWS call the local cloud's functions make, recorded as the IAM requests AWS would authorise.

Each botocore call in this process passes through one wrapper of `BaseClient._make_api_call`, so clients
made anywhere (shared.store.dynamo's, the email channel's own SES client, a poller's) are all seen. A call
belongs to a function when the calling thread runs with that function's environment (an invocation, or a
thread the function started: it inherits the environment). A call an event-source poller makes outside an
invocation (stream GetRecords, SQS ReceiveMessage and DeleteMessage, an on-failure destination's
SendMessage) belongs to the function it feeds: Lambda makes those calls with the function's execution
role. Code run through `FunctionHost.call_as` (bootstrap data, a test's oracle) is the harness, not a
function, and so is everything else in the process (the runner's bookkeeping, the sinks, the tests).

Each call becomes the IAM request(s) AWS authorises for it (infra.localcloud.iam): the action, the resource ARN with the
physical names the local cloud deployed, and the condition keys the evaluator needs (the partition key
values as `dynamodb:LeadingKeys`, the sender as `ses:FromAddress`). Requests are counted as they happen,
so a run of hundreds of thousands of calls keeps only its distinct requests.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient

from infra.localcloud import environ
from infra.localcloud.functions import FunctionHost, aws_client
from infra.localcloud.iam import CONTEXT_KEYS, ContextValue, IamRequest, Underivable, derive
from infra.localcloud.pollers import QueuePoller, StreamPoller

FUNCTION = "function"
EVENT_SOURCE = "event source"
# set in the environment of code run through FunctionHost.call_as; threads it starts inherit it
HARNESS_VARIABLE = "KITH_LOCALCLOUD_HARNESS"

__all__ = [
    "CONTEXT_KEYS",
    "EVENT_SOURCE",
    "FUNCTION",
    "HARNESS_VARIABLE",
    "Call",
    "ContextValue",
    "IamRequest",
    "Recorder",
    "Underivable",
    "derive",
    "install",
    "recording",
    "uninstall",
]


@dataclass(frozen=True, order=True)
class Call:
    function: str  # the Lambda function name (AWS_LAMBDA_FUNCTION_NAME)
    origin: str  # FUNCTION, or EVENT_SOURCE for what Lambda's poller does with the function's role
    request: IamRequest


@dataclass(frozen=True)
class _Target:
    """Where an AWS call is made from, as far as the recorder cares."""

    function: str | None  # None: not a function's call
    origin: str
    stream_arn: str | None = None


class Recorder:
    """Counts distinct (function, origin, IAM request), API operations, and calls it could not derive."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._key_schemas: dict[tuple[str, str], dict[str | None, str]] = {}
        self.requests: Counter[Call] = Counter()
        self.operations: Counter[tuple[str, str, str]] = Counter()  # (function, origin, service:Operation)
        self.not_functions: Counter[str] = Counter()  # "harness" or "local cloud" -> calls left out
        self.underivable: Counter[tuple[str, str, str]] = Counter()  # (function, service:Operation, why)
        self.restore: tuple[Any, Any, Any] = (None, None, None)  # what install() replaced

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.operations.clear()
            self.not_functions.clear()
            self.underivable.clear()

    # -- who is calling

    def _target(self) -> _Target:
        env = os.environ
        current = env.current if isinstance(env, environ.ThreadEnviron) else None
        if current is not None:
            if current.get(HARNESS_VARIABLE):
                return _Target(None, "harness")
            name = current.get("AWS_LAMBDA_FUNCTION_NAME")
            if name:
                return _Target(name, FUNCTION)
        thread = threading.current_thread()
        if isinstance(thread, StreamPoller | QueuePoller):
            name = thread.runner.host.spec(thread.spec.function).name
            stream_arn = thread.spec.stream_arn if isinstance(thread, StreamPoller) else None
            return _Target(name, EVENT_SOURCE, stream_arn)
        return _Target(None, "local cloud")

    # -- the hooks

    def observe(self, client: BaseClient, operation: str, params: Mapping[str, Any]) -> None:
        """One botocore call."""
        service = client.meta.service_model.service_name
        self._observe(service, operation, params, client.meta.region_name, str(client.meta.endpoint_url))

    def observe_http(self, connection: http.client.HTTPConnection, body: Any, headers: Mapping[str, Any]) -> None:
        """One request sent with http.client outside botocore: an AWS call when it carries a SigV4
        signature (a hand-signed request, as shared.store.lite makes for the authorizer)."""
        lowered = {str(k).lower(): v.decode() if isinstance(v, bytes) else str(v) for k, v in headers.items()}
        match = _SIGV4.match(lowered.get("authorization", ""))
        if match is None:
            return
        region, signing_name = match.group(1), match.group(2)
        target = lowered.get("x-amz-target", "")
        scheme = "https" if isinstance(connection, http.client.HTTPSConnection) else "http"
        endpoint = f"{scheme}://{connection.host}:{connection.port}"
        if "." not in target:
            self._underivable(f"{signing_name}:?", "a signed request without X-Amz-Target outside botocore")
            return
        service = _JSON_TARGETS.get(target.split(".", 1)[0], signing_name)
        try:
            text = body.decode() if isinstance(body, bytes) else str(body or "{}")
            params = json.loads(text)
        except ValueError:
            self._underivable(f"{service}:{target}", "a signed request whose body is not JSON")
            return
        self._observe(service, target.rsplit(".", 1)[1], params, region, endpoint)

    def _underivable(self, name: str, why: str) -> None:
        target = self._target()
        if target.function is None:
            return
        with self._lock:
            self.operations[(target.function, target.origin, name)] += 1
            self.underivable[(target.function, name, why)] += 1

    def _observe(self, service: str, operation: str, params: Mapping[str, Any], region: str, endpoint: str) -> None:
        if getattr(self._local, "internal", False):
            return
        target = self._target()
        if target.function is None:
            with self._lock:
                self.not_functions[target.origin] += 1
            return
        name = f"{service}:{operation}"
        try:
            requests = derive(
                service,
                operation,
                params,
                region=region,
                key_schema=lambda table: self._key_schema(endpoint, region, table),
                stream_arn=target.stream_arn,
            )
        except Exception as exc:  # a recording failure must never fail the function's own call
            with self._lock:
                self.operations[(target.function, target.origin, name)] += 1
                self.underivable[(target.function, name, f"{type(exc).__name__}: {exc}")] += 1
            return
        with self._lock:
            self.operations[(target.function, target.origin, name)] += 1
            for request in requests:
                self.requests[Call(target.function, target.origin, request)] += 1

    def _key_schema(self, endpoint: str, region: str, table: str) -> dict[str | None, str]:
        """{None: the table's partition key attribute, index name: the index's}, read once per table."""
        key = (endpoint, table)
        schema = self._key_schemas.get(key)
        if schema is None:
            self._local.internal = True
            try:
                described = aws_client("dynamodb", endpoint, region).describe_table(TableName=table)["Table"]
            finally:
                self._local.internal = False
            schema = {None: _hash_key(described["KeySchema"])}
            for index in [*described.get("GlobalSecondaryIndexes", []), *described.get("LocalSecondaryIndexes", [])]:
                schema[index["IndexName"]] = _hash_key(index["KeySchema"])
            self._key_schemas[key] = schema
        return schema

    @contextlib.contextmanager
    def botocore_call(self) -> Iterator[None]:
        """Marks the thread as inside a botocore call, so its HTTP request is not counted twice."""
        saved = getattr(self._local, "botocore", False)
        self._local.botocore = True
        try:
            yield
        finally:
            self._local.botocore = saved

    def in_botocore_call(self) -> bool:
        return bool(getattr(self._local, "botocore", False))


# Credential=<key>/<day>/<region>/<service>/aws4_request
_SIGV4 = re.compile(r"^AWS4-HMAC-SHA256 Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
# the JSON protocols' X-Amz-Target prefixes, by the botocore service they belong to
_JSON_TARGETS = {"DynamoDB_20120810": "dynamodb", "DynamoDBStreams_20120810": "dynamodbstreams", "AmazonSSM": "ssm"}
_JSON_TARGETS |= {"AWSEvents": "events", "AmazonSQS": "sqs"}


def _hash_key(key_schema: list[dict[str, str]]) -> str:
    return next(k["AttributeName"] for k in key_schema if k["KeyType"] == "HASH")


_INSTALLED: Recorder | None = None
_INSTALL_LOCK = threading.Lock()


def install() -> Recorder:
    """Start recording every AWS call in this process (once; later calls return the same recorder)."""
    global _INSTALLED
    with _INSTALL_LOCK:
        if _INSTALLED is not None:
            return _INSTALLED
        recorder = Recorder()
        original_call = BaseClient._make_api_call
        original_request = http.client.HTTPConnection.request
        original_call_as = FunctionHost.call_as

        def make_api_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
            recorder.observe(self, operation_name, api_params)
            with recorder.botocore_call():
                return original_call(self, operation_name, api_params)

        def request(
            self: http.client.HTTPConnection, method: str, url: str, body: Any = None, headers: Any = None, **kw: Any
        ) -> None:
            if headers and not recorder.in_botocore_call():
                recorder.observe_http(self, body, headers)
            original_request(self, method, url, body, headers or {}, **kw)

        def call_as(self: FunctionHost, logical_id: str, fn: Any) -> Any:
            def marked() -> Any:
                # the thread's environment is a fresh copy for this block: the mark goes with it
                os.environ[HARNESS_VARIABLE] = "1"
                return fn()

            return original_call_as(self, logical_id, marked)

        BaseClient._make_api_call = make_api_call
        http.client.HTTPConnection.request = request  # type: ignore[method-assign]
        FunctionHost.call_as = call_as  # type: ignore[method-assign]
        recorder.restore = (original_call, original_request, original_call_as)
        _INSTALLED = recorder
        return recorder


def uninstall() -> None:
    global _INSTALLED
    with _INSTALL_LOCK:
        if _INSTALLED is None:
            return
        original_call, original_request, original_call_as = _INSTALLED.restore
        BaseClient._make_api_call = original_call
        http.client.HTTPConnection.request = original_request  # type: ignore[method-assign]
        FunctionHost.call_as = original_call_as  # type: ignore[method-assign]
        _INSTALLED = None


@contextlib.contextmanager
def recording() -> Iterator[Recorder]:
    recorder = install()
    try:
        yield recorder
    finally:
        uninstall()
