"""The local cloud reads DynamoDB's data-plane requests with json.loads where moto's shape-model parser
would give the same parameters (infra.localcloud.moto_patches.fast_params); checked against that
parser over generated requests of every fast operation, binary values included."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from moto.core.parse import PROTOCOL_PARSERS
from moto.core.responses import get_service_model

from infra.localcloud.moto_patches import fast_params

SERVICE = get_service_model("dynamodb")
NAMES = st.sampled_from(["pk", "sk", "B", "BS", "doc", "v", "gsi1pk", "n", "tags", "#b"])
TEXT = st.text(max_size=12)
NUMBER = st.integers(-(10**12), 10**12).map(str) | st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str)
BLOB = st.binary(max_size=8).map(lambda raw: base64.b64encode(raw).decode())

SCALARS = st.one_of(
    TEXT.map(lambda s: {"S": s}),
    NUMBER.map(lambda n: {"N": n}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.lists(TEXT, min_size=1, max_size=3, unique=True).map(lambda ss: {"SS": ss}),
    st.lists(NUMBER, min_size=1, max_size=3, unique=True).map(lambda ns: {"NS": ns}),
    BLOB.map(lambda b: {"B": b}),
    st.lists(BLOB, min_size=1, max_size=2, unique=True).map(lambda bs: {"BS": bs}),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda values: {"L": values}),
        st.dictionaries(NAMES, inner, max_size=3).map(lambda members: {"M": members}),
    ),
    max_leaves=8,
)
ITEMS = st.dictionaries(NAMES, VALUES, min_size=1, max_size=4)
EXPRESSION_VALUES = st.dictionaries(st.sampled_from([":p", ":v", ":n", ":b"]), VALUES, max_size=3)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    table = draw(st.sampled_from(["kith-AppTable", "kith-EventsTable"]))
    item, key = draw(ITEMS), {"pk": {"S": draw(TEXT)}}
    values = draw(EXPRESSION_VALUES)
    names = {"#b": draw(st.sampled_from(["B", "band", "v"]))}
    operation, body = draw(
        st.sampled_from(
            [
                ("GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}),
                ("PutItem", {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}),
                ("DeleteItem", {"TableName": table, "Key": key}),
                (
                    "UpdateItem",
                    {
                        "TableName": table,
                        "Key": key,
                        "UpdateExpression": "SET #b = :v",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                        "ReturnValues": "ALL_NEW",
                    },
                ),
                (
                    "Query",
                    {
                        "TableName": table,
                        "IndexName": "gsi1",
                        "KeyConditionExpression": "gsi1pk = :p",
                        "ExpressionAttributeValues": values,
                        "Limit": 20,
                        "ScanIndexForward": False,
                        "ExclusiveStartKey": item,
                    },
                ),
                ("Scan", {"TableName": table, "Limit": 5, "ExclusiveStartKey": key}),
                ("BatchGetItem", {"RequestItems": {table: {"Keys": [key, item], "ConsistentRead": False}}}),
                (
                    "BatchWriteItem",
                    {
                        "RequestItems": {table: [{"PutRequest": {"Item": item}}, {"DeleteRequest": {"Key": key}}]},
                        "ReturnConsumedCapacity": "TOTAL",
                    },
                ),
                (
                    "TransactWriteItems",
                    {
                        "TransactItems": [
                            {"Put": {"TableName": table, "Item": item, "ConditionExpression": "v = :v"}},
                            {
                                "Update": {
                                    "TableName": table,
                                    "Key": key,
                                    "UpdateExpression": "SET v = :v",
                                    "ExpressionAttributeValues": values,
                                }
                            },
                            {"Delete": {"TableName": table, "Key": key}},
                        ],
                        "ClientRequestToken": "token",
                    },
                ),
            ]
        )
    )
    return operation, body


def moto_parse(operation: str, body: bytes) -> Any:
    parser = PROTOCOL_PARSERS["json"](SERVICE.operation_model(operation), map_type=dict)
    request = {
        "method": "POST",
        "values": {},
        "headers": {"Content-Type": "application/x-amz-json-1.0"},
        "body": body,
        "url_path": "/",
        "url_params": {},
    }
    return parser.parse(request)


@settings(max_examples=300, deadline=None)
@given(request=requests())
def test_a_request_read_as_json_equals_what_motos_parser_makes_of_it(request: tuple[str, dict[str, Any]]) -> None:
    operation, body = request
    raw = json.dumps(body).encode()
    fast = fast_params(("dynamodb", operation), raw)
    if fast is not None:
        assert fast == moto_parse(operation, raw)


def test_binary_values_and_other_operations_go_to_motos_parser() -> None:
    binary = json.dumps({"TableName": "t", "Item": {"pk": {"B": "aGk="}}}).encode()
    assert fast_params(("dynamodb", "PutItem"), binary) is None
    assert moto_parse("PutItem", binary)["Item"]["pk"]["B"] == b"hi"
    plain = json.dumps({"TableName": "t", "Item": {"pk": {"S": "a"}}}).encode()
    assert fast_params(("dynamodb", "PutItem"), plain) == {"TableName": "t", "Item": {"pk": {"S": "a"}}}
    assert fast_params(("dynamodb", "CreateTable"), plain) is None
    assert fast_params(("dynamodb", "PutItem"), b"[1, 2]") is None
    assert fast_params(("dynamodb", "PutItem"), b"{not json") is None
