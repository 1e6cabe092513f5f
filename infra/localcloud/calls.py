"""Every AWS call the local cloud's functions make, recorded as the IAM requests AWS would authorise.

Each botocore call in this process passes through one wrapper of `BaseClient._make_api_call`, so clients
made anywhere (shared.store.dynamo's, the email channel's own SES client, a poller's) are all seen. A call
belongs to a function when the calling thread runs with that function's environment (an invocation, or a
thread the function started: it inherits the environment). A call an event-source poller makes outside an
invocation (stream GetRecords, SQS ReceiveMessage and DeleteMessage, an on-failure destination's
SendMessage) belongs to the function it feeds: Lambda makes those calls with the function's execution
role. Code run through `FunctionHost.call_as` (bootstrap data, a test's oracle) is the harness, not a
function, and so is everything else in the process (the runner's bookkeeping, the sinks, the tests).

Each call becomes the IAM request(s) AWS authorises for it: the action, the resource ARN with the
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr
from typing import Any

from botocore.client import BaseClient

from infra.localcloud import environ
from infra.localcloud.functions import ACCOUNT_ID, FunctionHost, aws_client
from infra.localcloud.runner import QueuePoller, StreamPoller

FUNCTION = "function"
EVENT_SOURCE = "event source"
# set in the environment of code run through FunctionHost.call_as; threads it starts inherit it
HARNESS_VARIABLE = "KITH_LOCALCLOUD_HARNESS"

# The condition keys derive() supplies; a policy conditioned on any other key needs it taught here.
CONTEXT_KEYS = frozenset({"dynamodb:LeadingKeys", "ses:FromAddress", "ses:FromDisplayName", "ses:Recipients"})

ContextValue = str | tuple[str, ...]


class Underivable(ValueError):
    """A call this module cannot turn into IAM requests; the message names what is missing."""


@dataclass(frozen=True, order=True)
class IamRequest:
    action: str
    resource: str
    context: tuple[tuple[str, ContextValue], ...] = ()

    def context_dict(self) -> dict[str, str | list[str]]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.context}


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


# ----------------------------------------------------------------------------- calls to IAM requests


def derive(
    service: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    region: str,
    key_schema: Callable[[str], dict[str | None, str]],
    stream_arn: str | None = None,
) -> list[IamRequest]:
    """The IAM requests AWS authorises for one API call (several for a transaction or a multi-table batch).

    `key_schema(table)` answers {None: partition key attribute, index: its partition key attribute}.
    """
    if service == "dynamodb":
        return _dynamodb(operation, params, region, key_schema)
    if service == "dynamodbstreams":
        return _streams(operation, params, stream_arn)
    if service == "sqs":
        return _sqs(operation, params, region)
    if service in ("ses", "sesv2"):
        return _ses(service, operation, params, region)
    if service == "ssm":
        return _ssm(operation, params, region)
    if service == "events":
        return _events(operation, params, region)
    raise Underivable(f"no IAM mapping for {service}:{operation}")


def _table_arn(region: str, table: str, index: str | None = None) -> str:
    base = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table}"
    return f"{base}/index/{index}" if index else base


def _scalar(value: Any) -> str:
    """A key attribute's value as IAM sees it: typed ({"S": ...}) from the client, plain from a resource."""
    if isinstance(value, dict) and len(value) == 1:
        ((kind, inner),) = value.items()
        if kind in ("S", "N", "B"):
            return inner.decode() if isinstance(inner, bytes) else str(inner)
    return value.decode() if isinstance(value, bytes) else str(value)


def _leading(values: list[str] | set[str]) -> tuple[tuple[str, ContextValue], ...]:
    return (("dynamodb:LeadingKeys", tuple(sorted(set(values)))),)


def _item_key(item: Mapping[str, Any], attribute: str, what: str) -> str:
    if attribute not in item:
        raise Underivable(f"{what} has no partition key {attribute}")
    return _scalar(item[attribute])


def _query_partition_value(params: Mapping[str, Any], attribute: str) -> str:
    """The partition key value a Query asks for: its KeyConditionExpression's `attribute = :value`."""
    conditions = params.get("KeyConditions")
    if conditions:
        condition = conditions.get(attribute)
        if condition is None or condition.get("ComparisonOperator") != "EQ":
            raise Underivable(f"KeyConditions has no EQ on {attribute}")
        return _scalar(condition["AttributeValueList"][0])
    expression = params.get("KeyConditionExpression")
    if not isinstance(expression, str):
        raise Underivable("a Query without a KeyConditionExpression")
    names = params.get("ExpressionAttributeNames", {})
    values = params.get("ExpressionAttributeValues", {})
    for left, right in re.findall(r"([#:]?[\w.\-]+)\s*=\s*([#:]?[\w.\-]+)", expression):
        for name, value in ((left, right), (right, left)):
            resolved = names.get(name, name)
            if resolved == attribute and value.startswith(":"):
                return _scalar(values[value])
    raise Underivable(f"cannot find {attribute} = :value in {expression!r}")


_TRANSACT_WRITE = {
    "Put": ("PutItem", "Item"),
    "Update": ("UpdateItem", "Key"),
    "Delete": ("DeleteItem", "Key"),
    "ConditionCheck": ("ConditionCheckItem", "Key"),
}
_SINGLE_ITEM = {"GetItem": "Key", "PutItem": "Item", "UpdateItem": "Key", "DeleteItem": "Key"}
_TABLE_ONLY = {"DescribeTable", "DescribeTimeToLive", "DescribeContinuousBackups", "ListTagsOfResource"}


def _dynamodb(operation: str, params: Mapping[str, Any], region: str, key_schema: Any) -> list[IamRequest]:
    if operation in _SINGLE_ITEM:
        table = params["TableName"]
        pk = _item_key(params[_SINGLE_ITEM[operation]], key_schema(table)[None], operation)
        return [IamRequest(f"dynamodb:{operation}", _table_arn(region, table), _leading([pk]))]
    if operation == "Query":
        table, index = params["TableName"], params.get("IndexName")
        schema = key_schema(table)
        if index not in schema:
            raise Underivable(f"table {table} has no index {index}")
        pk = _query_partition_value(params, schema[index])
        return [IamRequest("dynamodb:Query", _table_arn(region, table, index), _leading([pk]))]
    if operation == "Scan":
        # a Scan names no partition: AWS supplies no dynamodb:LeadingKeys for it
        return [IamRequest("dynamodb:Scan", _table_arn(region, params["TableName"], params.get("IndexName")))]
    if operation == "BatchGetItem":
        found = []
        for table, wanted in params["RequestItems"].items():
            attribute = key_schema(table)[None]
            keys = [_item_key(k, attribute, "BatchGetItem") for k in wanted["Keys"]]
            found.append(IamRequest("dynamodb:BatchGetItem", _table_arn(region, table), _leading(keys)))
        return found
    if operation == "BatchWriteItem":
        found = []
        for table, writes in params["RequestItems"].items():
            attribute = key_schema(table)[None]
            keys = []
            for write in writes:
                if "PutRequest" in write:
                    keys.append(_item_key(write["PutRequest"]["Item"], attribute, "BatchWriteItem put"))
                else:
                    keys.append(_item_key(write["DeleteRequest"]["Key"], attribute, "BatchWriteItem delete"))
            found.append(IamRequest("dynamodb:BatchWriteItem", _table_arn(region, table), _leading(keys)))
        return found
    if operation == "TransactWriteItems":
        # there is no TransactWriteItems action: AWS authorises each item as its own write
        found = []
        for entry in params["TransactItems"]:
            ((kind, body),) = entry.items()
            action, field = _TRANSACT_WRITE[kind]
            table = body["TableName"]
            pk = _item_key(body[field], key_schema(table)[None], f"TransactWriteItems {kind}")
            found.append(IamRequest(f"dynamodb:{action}", _table_arn(region, table), _leading([pk])))
        return found
    if operation == "TransactGetItems":
        found = []
        for entry in params["TransactItems"]:
            body = entry["Get"]
            table = body["TableName"]
            pk = _item_key(body["Key"], key_schema(table)[None], "TransactGetItems")
            found.append(IamRequest("dynamodb:GetItem", _table_arn(region, table), _leading([pk])))
        return found
    if operation in _TABLE_ONLY:
        table = params.get("TableName") or str(params.get("ResourceArn", "")).rsplit("/", 1)[-1]
        return [IamRequest(f"dynamodb:{operation}", _table_arn(region, table))]
    raise Underivable(f"no IAM mapping for dynamodb:{operation}")


def _streams(operation: str, params: Mapping[str, Any], stream_arn: str | None) -> list[IamRequest]:
    if operation in ("DescribeStream", "GetShardIterator"):
        return [IamRequest(f"dynamodb:{operation}", str(params["StreamArn"]))]
    if operation == "GetRecords":
        # a shard iterator is opaque: the stream is the one the calling poller reads
        if stream_arn is None:
            raise Underivable("GetRecords outside a stream poller: its stream is unknown")
        return [IamRequest("dynamodb:GetRecords", stream_arn)]
    if operation == "ListStreams":
        return [IamRequest("dynamodb:ListStreams", "*")]
    raise Underivable(f"no IAM mapping for dynamodbstreams:{operation}")


def _queue_arn(region: str, url: str) -> str:
    return f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{url.rstrip('/').rsplit('/', 1)[-1]}"


def _sqs(operation: str, params: Mapping[str, Any], region: str) -> list[IamRequest]:
    if operation == "GetQueueUrl":
        return [IamRequest("sqs:GetQueueUrl", f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{params['QueueName']}")]
    if "QueueUrl" not in params:
        raise Underivable(f"sqs:{operation} names no queue")
    # a batch is authorised as its single-message action
    action = operation.removesuffix("Batch")
    return [IamRequest(f"sqs:{action}", _queue_arn(region, str(params["QueueUrl"])))]


def _ses(service: str, operation: str, params: Mapping[str, Any], region: str) -> list[IamRequest]:
    if operation not in ("SendEmail", "SendRawEmail"):
        raise Underivable(f"no IAM mapping for {service}:{operation}")
    sender = params.get("FromEmailAddress") if service == "sesv2" else params.get("Source")
    if not sender:
        raise Underivable(f"{service}:{operation} names no sender")
    display, address = parseaddr(str(sender))
    destination = params.get("Destination", {})
    recipients = [a for _, a in getaddresses([str(r) for k in destination for r in destination[k]]) if a]
    context: list[tuple[str, ContextValue]] = [("ses:FromAddress", address)]
    if display:
        context.append(("ses:FromDisplayName", display))
    if recipients:
        context.append(("ses:Recipients", tuple(sorted(set(recipients)))))
    # SES authorises the identity it sends as: the address when it is verified itself (as locally),
    # else its domain; an identity ARN given explicitly wins
    identity = params.get("FromEmailAddressIdentityArn") or f"arn:aws:ses:{region}:{ACCOUNT_ID}:identity/{address}"
    found = [IamRequest("ses:SendEmail" if service == "sesv2" else f"ses:{operation}", identity, tuple(context))]
    configuration_set = params.get("ConfigurationSetName")
    if configuration_set:
        arn = f"arn:aws:ses:{region}:{ACCOUNT_ID}:configuration-set/{configuration_set}"
        found.append(IamRequest(found[0].action, arn, tuple(context)))
    return found


def _parameter_arn(region: str, name: str) -> str:
    # a hierarchical name keeps its leading slash as the ARN's separator
    return f"arn:aws:ssm:{region}:{ACCOUNT_ID}:parameter{name if name.startswith('/') else '/' + name}"


def _ssm(operation: str, params: Mapping[str, Any], region: str) -> list[IamRequest]:
    if operation in ("GetParameter", "PutParameter", "DeleteParameter", "GetParameterHistory", "LabelParameterVersion"):
        return [IamRequest(f"ssm:{operation}", _parameter_arn(region, str(params["Name"])))]
    if operation in ("GetParameters", "DeleteParameters"):
        return [IamRequest(f"ssm:{operation}", _parameter_arn(region, str(n))) for n in params["Names"]]
    if operation == "GetParametersByPath":
        return [IamRequest("ssm:GetParametersByPath", _parameter_arn(region, str(params["Path"])))]
    raise Underivable(f"no IAM mapping for ssm:{operation}")


def _events(operation: str, params: Mapping[str, Any], region: str) -> list[IamRequest]:
    if operation != "PutEvents":
        raise Underivable(f"no IAM mapping for events:{operation}")
    buses = set()
    for entry in params["Entries"]:
        bus = str(entry.get("EventBusName") or "default")
        buses.add(bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{ACCOUNT_ID}:event-bus/{bus}")
    return [IamRequest("events:PutEvents", bus) for bus in sorted(buses)]
