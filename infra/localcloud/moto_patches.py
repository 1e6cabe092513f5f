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

moto answers a Query on the base table by sorting every item of the table and keeping those of the
asked partition: O(table) per Query. The patch hands it the one partition instead (same items, same
order), so reading a wallet costs the same with ten wallets as with ten thousand.

moto's generic response serializer walks every attribute of every item against the botocore shape
model; for DynamoDB's JSON protocol the result already is the wire format, so the data-plane
operations below are written out with json.dumps instead (any value json cannot write, and every
other operation, still goes through moto's serializer).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from typing import Any

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


def _wire_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(type(value).__name__)


def _patch_partition_queries() -> None:
    import threading

    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_all_items = Table.all_items
    hint = threading.local()

    def all_items(self: Table) -> Any:
        partition = getattr(hint, "partition", None)
        if partition is not None and partition[0] is self:
            bucket = self.items.get(partition[1])
            return sorted(bucket.values(), key=lambda item: item.range_key) if bucket else []
        return original_all_items(self)

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is not None or hash_key is None or not self.range_key_attr:
            return original_query(self, hash_key, *args, **kwargs)
        hint.partition = (self, hash_key)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            hint.partition = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


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


def apply() -> None:
    global _APPLIED
    if _APPLIED:
        return
    _patch_serializer()
    _patch_partition_queries()
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
