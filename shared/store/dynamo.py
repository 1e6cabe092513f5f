"""DynamoDB access shared by every function: clients, typed (de)serialisation, and retried batch writes.

Clients honour AWS_ENDPOINT_URL, so the same code talks to moto locally and to DynamoDB in AWS.
Request counting hooks into botocore's event system, so benchmarks and tests count real requests.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

from shared.retry import STORE, Backoff, RetriesExhausted, drain
from shared.store.counting import REQUESTS, RequestCounter  # noqa: F401 - importers find the counter here
from shared.store.keys import PK, SK

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_BOTO_CONFIG = Config(retries={"max_attempts": 8, "mode": "adaptive"}, max_pool_connections=32)

BATCH_WRITE_LIMIT = 25


def _count_request(model: Any, **_: Any) -> None:
    service = model.service_model.service_name
    REQUESTS.record(f"{service}:{model.name}")


def client(service: str) -> Any:
    """A cached client for the current endpoint and region (creating one costs tens of milliseconds)."""
    return _client(service, os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_DEFAULT_REGION", ""))


@lru_cache(maxsize=32)
def _client(service: str, endpoint: str, region: str) -> Any:
    made = boto3.session.Session().client(service, config=_BOTO_CONFIG)  # reads both from the environment
    made.meta.events.register("before-call", _count_request)
    return made


def reset_clients() -> None:
    """Forget cached clients, e.g. after credentials change."""
    _client.cache_clear()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values to DynamoDB's typed JSON; floats become Decimals, None values are dropped."""
    return {k: _serializer.serialize(_to_dynamo_value(v)) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo_value(_deserializer.deserialize(v)) for k, v in item.items()}


def _to_dynamo_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo_value(v) for v in value]
    return value


def _from_dynamo_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo_value(v) for v in value]
    if isinstance(value, set):
        return {_from_dynamo_value(v) for v in value}
    return value


class BatchWriteError(RetriesExhausted):
    pass


def batch_write(
    table: str,
    puts: Iterable[Mapping[str, Any]] = (),
    deletes: Iterable[Mapping[str, Any]] = (),
    backoff: Backoff = STORE,
) -> int:
    """Write typed items in batches of 25, retrying UnprocessedItems (see shared.retry).

    Returns the number of BatchWriteItem requests made. Raises BatchWriteError when items are
    still unprocessed after every attempt, so the caller never advances past a partial write.
    """
    requests_list: list[dict[str, Any]] = [{"PutRequest": {"Item": dict(item)}} for item in puts]
    requests_list += [{"DeleteRequest": {"Key": dict(key)}} for key in deletes]
    dynamodb = client("dynamodb")
    made = 0

    def write(pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
        nonlocal made
        made += 1
        response = dynamodb.batch_write_item(RequestItems={table: pending})
        return list(response.get("UnprocessedItems", {}).get(table, []))

    for start in range(0, len(requests_list), BATCH_WRITE_LIMIT):
        _drain(requests_list[start : start + BATCH_WRITE_LIMIT], write, f"writing {table}", backoff)
    return made


BATCH_GET_LIMIT = 100


def batch_get(
    table: str, item_keys: Iterable[Mapping[str, Any]], consistent: bool = True, backoff: Backoff = STORE
) -> list[dict[str, Any]]:
    """Typed items by key, 100 a request, retrying UnprocessedKeys (see shared.retry); missing keys are absent."""
    wanted = [dict(k) for k in item_keys]
    dynamodb = client("dynamodb")
    found: list[dict[str, Any]] = []

    def read(pending: dict[str, Any]) -> dict[str, Any]:
        response = dynamodb.batch_get_item(RequestItems=pending)
        found.extend(response["Responses"].get(table, []))
        return dict(response.get("UnprocessedKeys") or {})

    for start in range(0, len(wanted), BATCH_GET_LIMIT):
        pending = {table: {"Keys": wanted[start : start + BATCH_GET_LIMIT], "ConsistentRead": consistent}}
        _drain(pending, read, f"reading {table}", backoff)
    return found


def batch_get_by_key(
    table: str, item_keys: Iterable[Mapping[str, str]], consistent: bool = True
) -> dict[tuple[str, str], dict[str, Any]]:
    """Typed items by plain key, each key read once, found by their (pk, sk); missing keys are absent."""
    unique = {(key[PK], key[SK]): key for key in item_keys}
    found = batch_get(table, [to_item(key) for key in unique.values()], consistent)
    return {_key_of(item): item for item in found}


def _key_of(item: Mapping[str, Any]) -> tuple[str, str]:
    key = from_item({PK: item[PK], SK: item[SK]})
    return key[PK], key[SK]


def _drain(pending: Any, send: Any, what: str, backoff: Backoff) -> None:
    try:
        drain(pending, send, done=lambda left: not left, what=what, backoff=backoff)
    except RetriesExhausted as exc:
        raise BatchWriteError(str(exc)) from exc
