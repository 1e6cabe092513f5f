"""What one page of segment members costs: exactly one DynamoDB Query, first page or a later one.

The route runs in process through the API app (as the ApiFunction does), on a fresh moto stack, and
every DynamoDB request is counted by shared.store.dynamo.REQUESTS (a botocore event hook).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.api.app import build_app
from shared.segments import store
from shared.segments.rules import parse_rule
from shared.settings import get_settings
from shared.store.dynamo import REQUESTS

pytestmark = pytest.mark.integration

MEMBERS = 7
PAGE = 3


def _get(app: Any, path: str, **query: str) -> tuple[int, dict[str, Any]]:
    event = {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"Accept": "application/json"},
        "multiValueHeaders": {"Accept": ["application/json"]},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": "GET",
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": "paging-cost",
            "authorizer": {"principalId": "test", "key_id": "test", "scopes": "read"},
        },
        "body": None,
        "isBase64Encoded": False,
    }
    response = app.resolve(event, None)
    return response["statusCode"], json.loads(response["body"])


def _dynamo_requests() -> dict[str, int]:
    """DynamoDB requests of the route itself: every request also spends its key's throttle (one UpdateItem)."""
    found = {k: v for k, v in REQUESTS.counts.items() if k.startswith("dynamodb:")}
    found["dynamodb:UpdateItem"] = found.get("dynamodb:UpdateItem", 0) - 1
    return {k: v for k, v in found.items() if v}


@pytest.fixture
def segment_with_members(deployed) -> str:
    settings = get_settings()
    segment = store.create_segment("Whales", parse_rule({"match": {"type": "label", "label": "whale"}}), settings)
    for index in range(MEMBERS):
        store.apply_membership(f"0x{index + 1:040x}", [segment], [], 1_700_000_000 + index, settings)
    return segment.segment_id


def test_a_page_of_members_costs_one_query_with_or_without_a_cursor(segment_with_members: str) -> None:
    # Given a warm API (its cursor signing key is cached after the first request, as in a warm Lambda)
    app = build_app()
    path = f"/segments/{segment_with_members}/members"
    status, _ = _get(app, path, limit=str(PAGE))
    assert status == 200

    # When the first page is fetched
    REQUESTS.reset()
    status, first = _get(app, path, limit=str(PAGE))
    # Then it cost one Query and no other DynamoDB request
    assert status == 200 and len(first["items"]) == PAGE
    assert _dynamo_requests() == {"dynamodb:Query": 1}

    # When the next page is fetched with its cursor
    REQUESTS.reset()
    status, second = _get(app, path, limit=str(PAGE), cursor=first["next_cursor"])
    # Then that too cost exactly one Query, and it continued where the first page stopped
    assert status == 200 and len(second["items"]) == PAGE
    assert _dynamo_requests() == {"dynamodb:Query": 1}
    assert not {m["address"] for m in first["items"]} & {m["address"] for m in second["items"]}


def test_only_an_empty_first_page_pays_to_tell_an_unknown_segment_from_an_empty_one(deployed) -> None:
    # Given a segment nobody has entered yet, and an id no segment has
    app = build_app()
    empty = store.create_segment("Nobody", parse_rule({"match": {"type": "label", "label": "whale"}}), get_settings())

    # When both are paged
    REQUESTS.reset()
    status, page = _get(app, f"/segments/{empty.segment_id}/members")
    cost_of_empty = _dynamo_requests()
    unknown_status, unknown = _get(app, "/segments/000000000000/members")

    # Then the empty segment is an empty last page, the unknown one a 404 naming the field,
    # and telling them apart took one GetItem beside the Query
    assert status == 200 and page == {"items": [], "next_cursor": None}
    assert cost_of_empty == {"dynamodb:Query": 1, "dynamodb:GetItem": 1}
    assert unknown_status == 404 and unknown["field"] == "segment_id"
