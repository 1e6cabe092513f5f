"""Keep moto's DynamoDB fast enough for a community of thousands, without changing its semantics.

moto 5.2 deep-copies every table a TransactWriteItems touches, before every transaction, so it can
roll back: the cost grows with the table, and at a few thousand wallets one transaction costs
100+ ms. DynamoDB itself evaluates every condition against the state before the transaction and
then applies all writes or none. This patch does exactly that: it checks every condition first,
raises TransactionCanceledException with no side effect if one fails, and only then writes. If a
write itself raises (a malformed update, which the conditions cannot foresee), the touched items
are restored from a copy of just those items.

It patches the in-process moto backend, so it applies to ThreadedMotoServer (the local cloud and
the test fixtures), not to a separate `moto_server` process.

moto answers a Query by sorting every item of the table and keeping those of the asked partition:
O(table) per Query, on the base table and on every index. infra.localcloud.moto_index hands it the
one partition instead (same items, same order), so reading a wallet costs the same with ten wallets
as with ten thousand.

moto's backends are plain dicts and lists, written by whichever server thread serves a request;
concurrent requests race (a Query iterating a table's items while another request wrote to it
raised "dictionary changed size during iteration"). Every request moto serves in this process holds
one lock: under the GIL moto's handlers never ran in parallel anyway, so it costs no throughput. An
SQS long poll lets go of it while it waits, so that a send can reach the queue. Requests that arrive
on the interactive port (`serve_first_on`: the API and its authorizer use it) take the lock before
any waiting batch request, so an API call waits for at most the one request being served, as it
would against DynamoDB, where a batch's load does not queue a reader behind it.

moto's SQS reads the clock once per message for every visibility check, and checks each received
message's retention by computing every attribute of its queue (three scans of all its messages): a
receive from a queue with a backlog of n messages cost O(n) per message returned. The patches read
the clock once per scan and the retention period as the attribute it is; which messages are visible,
delayed and retained, and in what order, is unchanged.

moto's generic response serializer walks every attribute of every item against the botocore shape
model; for DynamoDB's JSON protocol the result already is the wire format, so the data-plane
operations below are written out with json.dumps instead (any value json cannot write, and every
other operation, still goes through moto's serializer).

moto parses every request against the botocore shape model too, walking each attribute value of
each item: while the local cloud catches up, that was two fifths of the moto process's time. For
DynamoDB's JSON protocol the parsed request is the JSON itself, except for binary values (`B`, `BS`),
which the parser base64-decodes; so a data-plane request that carries none is read with json.loads
(any other request, and every other operation, still goes through moto's parser).

moto's EventBridge hands a rule's target the event without its `account`, which every event AWS
delivers carries (and Powertools' EventBridgeModel requires): the envelope gains it, the rest as moto
writes it.

DynamoDB Streams writes a record only for a write that changed the item; moto writes one for every
put, update and delete. A stream function that re-puts what is already there (an idempotent mark, a
redelivered event) would wake its consumers for nothing: the patch drops records whose old and new
images are equal, as DynamoDB does.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import json
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from infra.localcloud import moto_index

_APPLIED = False
_FAST_OPERATIONS = frozenset(
    {
        ("dynamodb", "GetItem"),
        ("dynamodb", "BatchGetItem"),
        ("dynamodb", "Query"),
        ("dynamodb", "Scan"),
        ("dynamodb", "PutItem"),
        ("dynamodb", "UpdateItem"),
        ("dynamodb", "DeleteItem"),
        ("dynamodb", "BatchWriteItem"),
        ("dynamodb", "TransactWriteItems"),
        ("dynamodbstreams", "GetRecords"),
    }
)


# request bodies that may hold a binary value, which moto's parser decodes (and json.loads would not)
_BINARY_MARKERS = (b'"B"', b'"BS"')


def fast_params(operation: tuple[str, str], body: bytes) -> dict[str, Any] | None:
    """The parameters moto's parser would make of a data-plane DynamoDB request, or None when only the
    parser itself can tell (another operation, a possible binary value, a body that is not an object)."""
    if operation not in _FAST_OPERATIONS or any(marker in body for marker in _BINARY_MARKERS):
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _wire_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(type(value).__name__)


_holding = threading.local()


class _PriorityLock:
    """A mutex whose urgent waiters go before the others (no order within either group)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._held = False
        self._urgent_waiting = 0

    def acquire(self, urgent: bool = False) -> None:
        with self._condition:
            if urgent:
                self._urgent_waiting += 1
            try:
                while self._held or (not urgent and self._urgent_waiting):
                    self._condition.wait()
            finally:
                if urgent:
                    self._urgent_waiting -= 1
            self._held = True

    def release(self) -> None:
        with self._condition:
            self._held = False
            self._condition.notify_all()


_REQUEST_LOCK = _PriorityLock()
_FIRST_PORTS: set[str] = set()


def serve_first_on(port: int) -> None:
    """Requests that reach moto on `port` are served before waiting requests that came another way."""
    _FIRST_PORTS.add(str(port))


def _patch_request_lock() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.sqs.models import Queue

    original_call = DomainDispatcherApplication.__call__
    original_wait = Queue.wait_for_messages

    def call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        _REQUEST_LOCK.acquire(urgent=environ.get("SERVER_PORT") in _FIRST_PORTS)
        try:
            _holding.value = True
            try:
                response = original_call(self, environ, start_response)
                try:
                    # the body may still read the backend as it is iterated: read it all under the lock
                    return list(response)
                finally:
                    close = getattr(response, "close", None)
                    if close is not None:
                        close()
            finally:
                _holding.value = False
        finally:
            _REQUEST_LOCK.release()

    def wait_for_messages(self: Queue, timeout: int) -> None:
        with _released():
            original_wait(self, timeout)

    DomainDispatcherApplication.__call__ = call  # type: ignore[method-assign]
    Queue.wait_for_messages = wait_for_messages  # type: ignore[method-assign]


@contextlib.contextmanager
def _released() -> Iterator[None]:
    """Lets other requests in while this one waits (it holds the request lock if a server thread)."""
    if not getattr(_holding, "value", False):
        yield
        return
    _holding.value = False
    _REQUEST_LOCK.release()
    try:
        yield
    finally:
        _REQUEST_LOCK.acquire()
        _holding.value = True


def _patch_serializer() -> None:
    from moto.core.responses import ActionResult

    original = ActionResult.execute_result

    def execute_result(self: ActionResult, context: Any) -> Any:
        operation = (str(context.service_model.service_name), str(context.operation_model.name))
        result = self.result
        if operation in _FAST_OPERATIONS and isinstance(result, dict):
            try:
                body = json.dumps(result, default=_wire_value)
            except (TypeError, ValueError):
                return original(self, context)
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        return original(self, context)

    ActionResult.execute_result = execute_result  # type: ignore[method-assign]


def _patch_parser() -> None:
    from moto.core.responses import BaseResponse

    original = BaseResponse.parse_parameters

    def parse_parameters(self: BaseResponse, request: Any) -> None:
        params = fast_params((str(self.boto3_service_name), str(self._get_action())), request.data)
        if params is None:
            original(self, request)
        else:
            self.params = params

    BaseResponse.parse_parameters = parse_parameters  # type: ignore[method-assign]


def _patch_sqs_scans() -> None:
    from moto.core.utils import unix_time, unix_time_millis
    from moto.sqs.models import Message, Queue, SQSBackend

    def visible_now(messages: Iterable[Message], now_ms: float) -> list[Message]:
        # moto's Message.visible and Message.delayed, with one clock reading for the whole scan
        return [m for m in messages if now_ms > m.visible_at and not now_ms < m.delayed_until]

    def messages(self: Queue) -> list[Message]:
        return visible_now(self._messages, unix_time_millis())

    def approximate_number_of_messages_delayed(self: Queue) -> int:
        now_ms = unix_time_millis()
        return sum(1 for m in self._messages if now_ms < m.delayed_until)

    def approximate_number_of_messages_not_visible(self: Queue) -> int:
        now_ms = unix_time_millis()
        return sum(1 for m in self._messages if not now_ms > m.visible_at)

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Message) -> bool:
        retention_period = int(getattr(self.get_queue(queue_name), "message_retention_period"))  # noqa: B009 - set from the queue attributes
        return bool(retention_period + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]

    Queue.messages = property(messages)  # type: ignore[assignment,method-assign]
    Queue.approximate_number_of_messages_delayed = property(approximate_number_of_messages_delayed)  # type: ignore[assignment,method-assign]
    Queue.approximate_number_of_messages_not_visible = property(approximate_number_of_messages_not_visible)  # type: ignore[assignment,method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]


def _patch_event_envelope() -> None:
    from moto.events.utils import EventTemplateParser

    EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = (
        '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
        '"account": "<account>", "time": <time>, "region": "<region>", "resources": <resources>, '
        '"detail": <detail>}'
    )


def _patch_unchanged_writes() -> None:
    """DynamoDB Streams records a write only if it changed the item; moto records every write."""
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamShard

    record = StreamShard.add

    def add(self: StreamShard, old: Item | None, new: Item | None) -> None:
        if old is not None and new is not None and old == new:
            return
        record(self, old, new)

    StreamShard.add = add  # type: ignore[method-assign]


def apply() -> None:
    global _APPLIED
    if _APPLIED:
        return
    _patch_event_envelope()
    _patch_unchanged_writes()
    _patch_serializer()
    _patch_parser()
    _patch_request_lock()
    _patch_sqs_scans()
    moto_index.apply()
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        seen: set[tuple[str, str]] = set()
        planned: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = []
        errors: list[Any] = []
        failed = False
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise MockValidationException("Unsupported transaction operation")
            table_name = op["TableName"]
            table = self.get_table(table_name)
            if op_type == "Put":
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            identity = (str(table_name), str(dict(sorted(key.items()))))
            if identity in seen:
                raise MultipleTransactionsException()
            seen.add(identity)
            current = self.get_item(table_name, key)
            original: dict[str, Any] | None = None
            condition = op.get("ConditionExpression")
            if condition is not None:
                check = get_filter_expression(
                    condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                )
                if not check.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original = current.to_json()["Attributes"]
                    errors.append(
                        ("ConditionalCheckFailed", str(ConditionalCheckFailed(item=original).message), original)
                    )
                    failed = True
                    continue
            errors.append((None, None, None))
            planned.append((op_type, op, table_name, key))
        if failed:
            raise TransactionCanceledException(errors)

        backups = [(name, key, copy.deepcopy(self.get_item(name, key))) for _, _, name, key in planned]
        try:
            for op_type, op, table_name, key in planned:
                names = op.get("ExpressionAttributeNames") or {}
                values = op.get("ExpressionAttributeValues") or {}
                if op_type == "Put":
                    self.put_item(
                        table_name, op["Item"], expression_attribute_names=names, expression_attribute_values=values
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        table_name, key, expression_attribute_names=names, expression_attribute_values=values
                    )
                elif op_type == "Update":
                    self.update_item(
                        table_name,
                        key,
                        update_expression=op["UpdateExpression"],
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
        except Exception:
            for table_name, key, item in backups:
                table = self.get_table(table_name)
                if item is None:
                    hash_value = key[table.hash_key_attr]
                    range_value = key.get(table.range_key_attr) if table.range_key_attr else None
                    from moto.dynamodb.models.dynamo_type import DynamoType

                    table.delete_item(
                        DynamoType(hash_value), DynamoType(range_value) if range_value is not None else None
                    )
                else:
                    table.put_item(item.to_json()["Attributes"])
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _APPLIED = True
