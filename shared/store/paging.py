"""Reading a DynamoDB Query or Scan to the end, or one page of it, in one place.

Every reader of more than one page goes through here, so the continuation rules are written once:
a page may come back short (a FilterExpression drops items after `Limit` is counted), and the
LastEvaluatedKey of the last request made is where the next page starts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from shared.store import dynamo

TypedItem = dict[str, Any]
"""An item in DynamoDB's typed JSON ({"pk": {"S": ...}}), as the low-level client returns it."""


@dataclass(frozen=True)
class Page:
    items: list[TypedItem]
    next_key: dict[str, Any] | None
    """Where the next page starts (an ExclusiveStartKey); None when the query is exhausted."""


def query_pages(table: str, **query: Any) -> Iterator[list[TypedItem]]:
    """Each page of a Query, to the end. `query` is the low-level client's keywords, without TableName."""
    yield from _pages("query", table, query)


def query_all(table: str, **query: Any) -> Iterator[TypedItem]:
    """Every item a Query matches, in the index's order, read page by page as the caller iterates."""
    for page in _pages("query", table, query):
        yield from page


def query_items(table: str, **query: Any) -> Iterator[dict[str, Any]]:
    """Every item a Query matches, as plain Python values (see dynamo.from_item)."""
    for item in query_all(table, **query):
        yield dynamo.from_item(item)


def scan_all(table: str, **scan: Any) -> Iterator[TypedItem]:
    """Every item a Scan returns. Only for maintenance jobs and tests: a Scan's cost grows with the table."""
    for page in _pages("scan", table, scan):
        yield from page


def query_page(table: str, *, limit: int, start: Mapping[str, Any] | None = None, **query: Any) -> Page:
    """Up to `limit` items from `start` on, with where to continue.

    Requests repeat while a filter leaves the page short and the index has more, asking each time
    only for what is still missing, so the returned next_key is exactly after the last item read.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    found: list[TypedItem] = []
    next_key: dict[str, Any] | None = dict(start) if start else None
    db = dynamo.client("dynamodb")
    while True:
        request = {**query, "TableName": table, "Limit": limit - len(found)}
        if next_key:
            request["ExclusiveStartKey"] = next_key
        response = db.query(**request)
        found += response.get("Items", [])
        next_key = response.get("LastEvaluatedKey")
        if next_key is None or len(found) >= limit:
            return Page(found, next_key)


def count(table: str, **query: Any) -> int:
    """How many items a Query matches (Select=COUNT, paged to the end)."""
    total = 0
    db = dynamo.client("dynamodb")
    request: dict[str, Any] = {**query, "TableName": table, "Select": "COUNT"}
    while True:
        response = db.query(**request)
        total += int(response.get("Count", 0))
        if not response.get("LastEvaluatedKey"):
            return total
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _pages(operation: str, table: str, request: Mapping[str, Any]) -> Iterator[list[TypedItem]]:
    call = getattr(dynamo.client("dynamodb"), operation)
    kwargs: dict[str, Any] = {**request, "TableName": table}
    while True:
        response = call(**kwargs)
        yield response.get("Items", [])
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last
