"""Small helpers for tests that talk to moto over real connections."""

from __future__ import annotations

from typing import Any

from shared.store import dynamo


def wipe_table(table: str) -> None:
    db = dynamo.client("dynamodb")
    kwargs: dict[str, Any] = {"TableName": table, "ProjectionExpression": "pk, sk"}
    while True:
        page = db.scan(**kwargs)
        if page["Items"]:
            dynamo.batch_write(table, deletes=page["Items"])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def all_items(table: str) -> list[dict[str, Any]]:
    db = dynamo.client("dynamodb")
    kwargs: dict[str, Any] = {"TableName": table}
    items: list[dict[str, Any]] = []
    while True:
        page = db.scan(**kwargs)
        items += [dynamo.from_item(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
