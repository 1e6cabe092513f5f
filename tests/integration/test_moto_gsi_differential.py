"""Queries answered from infra.localcloud.moto_index equal moto's own answers, page by page.

Two copies of one table live in one in-process moto: one in PATCHED's region, queried through the
index, one in REFERENCE's region, queried inside moto_index.bypassed() so that moto's own Table.query
walks its own all_items (the reference table never gets an index map: the test checks it). Both
receive the same writes (PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems, a
table dropped and created again) and the same Queries, through boto3 and moto's responses layer;
every page (Items, Count, ScannedCount, LastEvaluatedKey), or the error, must be the same, and each
patched page must have come from the index or the partition, never from a table walk.

KITH_MOTO_DIFF_EXAMPLES sets the number of examples (150 by default).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.localcloud import moto_index, moto_patches

EXAMPLES = int(os.environ.get("KITH_MOTO_DIFF_EXAMPLES", "150"))
TABLE = "kith-moto-differential"
PATCHED, REFERENCE = "us-east-1", "eu-west-1"
MAX_PAGES = 60

S = lambda value: {"S": value}  # noqa: E731
N = lambda value: {"N": value}  # noqa: E731
DOMAINS: dict[str, list[dict[str, str]]] = {
    # a number where a string belongs too: it must fall in a bucket of its own
    "g": [S("a"), S("b"), S("c"), N("1")],
    "g2": [N("1"), N("2"), N("2.0"), N("3")],
    "gs": [N("-1"), N("0"), N("1"), N("1.0"), N("2"), N("10")],
    "gs2": [S("x"), S("xa"), S("xab"), S("xb"), S("y")],
    "ls": [S("x"), S("xa"), S("xb"), S("y")],
    "a": [N("0"), N("1"), N("2"), N("5")],
    "b": [S("u"), S("v"), S("w")],
}
PREFIXES = [S("x"), S("xa"), S("y"), S("z"), S("")]
KEYS_PK = [S(f"p{i}") for i in range(4)]
KEYS_SK = [N(str(i)) for i in range(6)]


def _gsi(name: str, hash_attr: str, range_attr: str | None, projection: dict[str, Any]) -> dict[str, Any]:
    schema = [{"AttributeName": hash_attr, "KeyType": "HASH"}]
    if range_attr:
        schema.append({"AttributeName": range_attr, "KeyType": "RANGE"})
    return {"IndexName": name, "KeySchema": schema, "Projection": projection}


ALL = {"ProjectionType": "ALL"}
KEYS_ONLY = {"ProjectionType": "KEYS_ONLY"}
INCLUDE = {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]}
# layout name -> (has a sort key, {index name: (hash attr, range attr)}, create_table arguments)
LAYOUTS: dict[str, dict[str, Any]] = {
    "range": {
        "sk": True,
        "indexes": {
            "by_g": ("g", "gs"),
            "by_g_keys": ("g", "gs2"),
            "by_g2": ("g2", "gs"),
            "by_g_only": ("g", None),
            "by_pk_gs2": ("pk", "gs2"),
            "lsi_all": ("pk", "ls"),
            "lsi_include": ("pk", "gs"),
        },
        "gsis": [
            _gsi("by_g", "g", "gs", ALL),
            _gsi("by_g_keys", "g", "gs2", KEYS_ONLY),
            _gsi("by_g2", "g2", "gs", INCLUDE),
            _gsi("by_g_only", "g", None, ALL),
            _gsi("by_pk_gs2", "pk", "gs2", INCLUDE),
        ],
        "lsis": [_gsi("lsi_all", "pk", "ls", ALL), _gsi("lsi_include", "pk", "gs", INCLUDE)],
    },
    "hash": {
        "sk": False,
        "indexes": {"by_g": ("g", "gs"), "by_g_only": ("g", None), "by_g2": ("g2", "gs2")},
        "gsis": [
            _gsi("by_g", "g", "gs", INCLUDE),
            _gsi("by_g_only", "g", None, KEYS_ONLY),
            _gsi("by_g2", "g2", "gs2", ALL),
        ],
        "lsis": [],
    },
}
TYPES = {"pk": "S", "sk": "N", "g": "S", "g2": "N", "gs": "N", "gs2": "S", "ls": "S"}


def create_table(client: Any, layout: str) -> None:
    spec = LAYOUTS[layout]
    keys = ["pk", "sk"] if spec["sk"] else ["pk"]
    used = set(keys) | {attr for pair in spec["indexes"].values() for attr in pair if attr}
    arguments: dict[str, Any] = {
        "TableName": TABLE,
        "KeySchema": [
            {"AttributeName": key, "KeyType": kind} for key, kind in zip(keys, ["HASH", "RANGE"], strict=False)
        ],
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": TYPES[name]} for name in sorted(used)],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": spec["gsis"],
    }
    if spec["lsis"]:
        arguments["LocalSecondaryIndexes"] = spec["lsis"]
    client.create_table(**arguments)


# ---------------------------------------------------------------------------------------- strategies


def all_keys(layout: str) -> list[dict[str, Any]]:
    if LAYOUTS[layout]["sk"]:
        return [{"pk": pk, "sk": sk} for pk in KEYS_PK for sk in KEYS_SK]
    return [{"pk": S(f"p{i}")} for i in range(12)]


def mostly(values: list[Any]) -> st.SearchStrategy[Any]:
    """One of `values` three times in four, else None (shrinking towards None); one draw, to stay quick."""
    count = len(values)
    return st.integers(0, 4 * count - 1).map(lambda i: values[i % count] if i >= count else None)


def attribute_names(layout: str) -> list[str]:
    return [name for name in DOMAINS if layout == "range" or name != "ls"]


# Strategies are built once per layout: Hypothesis caches what it works out about a strategy object.
@functools.cache
def attributes(layout: str) -> st.SearchStrategy[dict[str, Any]]:
    """An item's attributes besides its key; each is there three times in four (some items are sparse)."""
    names = attribute_names(layout)
    return st.tuples(*(mostly(DOMAINS[name]) for name in names)).map(
        lambda drawn: {name: value for name, value in zip(names, drawn, strict=True) if value is not None}
    )


@functools.cache
def keys(layout: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(all_keys(layout))


@functools.cache
def items(layout: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(keys(layout), attributes(layout)).map(lambda pair: {**pair[0], **pair[1]})


@st.composite
def update_expressions(draw: Any, layout: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    chosen = draw(st.lists(st.sampled_from(attribute_names(layout)), min_size=1, max_size=3, unique=True))
    sets, removes, names, values = [], [], {}, {}
    for i, name in enumerate(chosen):
        names[f"#n{i}"] = name
        action = draw(st.sampled_from(["set", "remove", "add"] if name == "a" else ["set", "remove"]))
        if action == "remove":
            removes.append(f"#n{i}")
        elif action == "add":
            sets.append(f"#n{i} = #n{i} + :v{i}")  # fails when the item has no `a`
            values[f":v{i}"] = N("1")
        else:
            sets.append(f"#n{i} = :v{i}")
            values[f":v{i}"] = draw(st.sampled_from(DOMAINS[name]))
    clauses = [f"SET {', '.join(sets)}" if sets else "", f"REMOVE {', '.join(removes)}" if removes else ""]
    return " ".join(clause for clause in clauses if clause), names, values


@functools.cache
def writes(layout: str) -> st.SearchStrategy[tuple[Any, ...]]:
    put = st.tuples(st.just("put"), items(layout))
    update = st.tuples(st.just("update"), keys(layout), update_expressions(layout))
    delete = st.tuples(st.just("delete"), keys(layout))
    condition = st.sampled_from([None, "attribute_exists(pk)", "attribute_not_exists(pk)"])
    transact = st.tuples(
        st.just("transact"), st.lists(st.tuples(st.one_of(put, update, delete), condition), min_size=1, max_size=3)
    )
    batch = st.tuples(st.just("batch"), st.lists(st.one_of(put, delete), min_size=1, max_size=5))
    return st.sampled_from([put, put, update, update, delete, transact, transact, batch]).flatmap(lambda each: each)


@st.composite
def query_requests(draw: Any, layout: str) -> dict[str, Any]:
    indexes = LAYOUTS[layout]["indexes"]
    index = draw(st.sampled_from([None, *sorted(indexes)]))
    hash_attr, range_attr = indexes[index] if index else ("pk", "sk" if LAYOUTS[layout]["sk"] else None)
    hash_domain = [*KEYS_PK, S("p11"), S("p99")] if hash_attr == "pk" else [*DOMAINS[hash_attr], S("zz"), N("2.00")]
    names = {"#h": hash_attr}
    values = {":h": draw(st.sampled_from(hash_domain))}
    condition = "#h = :h"
    if range_attr and draw(st.booleans()):
        domain = KEYS_SK if range_attr == "sk" else DOMAINS[range_attr]
        operators = ["=", "<", "<=", ">", ">=", "BETWEEN"] + (["begins_with"] if TYPES[range_attr] == "S" else [])
        operator = draw(st.sampled_from(operators))
        names["#r"] = range_attr
        if operator == "BETWEEN":
            low, high = sorted(draw(st.lists(st.sampled_from(domain), min_size=2, max_size=2)), key=_order)
            values[":lo"], values[":hi"] = low, high
            condition += " AND #r BETWEEN :lo AND :hi"
        elif operator == "begins_with":
            values[":r"] = draw(st.sampled_from(PREFIXES))
            condition += " AND begins_with(#r, :r)"
        else:
            values[":r"] = draw(st.sampled_from(domain))
            condition += f" AND #r {operator} :r"
    request: dict[str, Any] = {"TableName": TABLE, "KeyConditionExpression": condition}
    if index:
        request["IndexName"] = index
    filter_kind = draw(st.sampled_from([None, None, None, "a_gt", "b_eq", "has_b", "no_gs"]))
    if filter_kind == "a_gt":
        names["#fa"], values[":fa"] = "a", draw(st.sampled_from(DOMAINS["a"]))
        request["FilterExpression"] = "#fa > :fa"
    elif filter_kind == "b_eq":
        names["#fb"], values[":fb"] = "b", draw(st.sampled_from(DOMAINS["b"]))
        request["FilterExpression"] = "#fb = :fb"
    elif filter_kind == "has_b":
        names["#fb"] = "b"
        request["FilterExpression"] = "attribute_exists(#fb)"
    elif filter_kind == "no_gs":
        names["#fg"] = "gs"
        request["FilterExpression"] = "attribute_not_exists(#fg)"
    projection = draw(st.sampled_from([None, None, None, ["pk", "a"], ["b"], ["gs", "g", "pk"]]))
    if projection:
        request["ProjectionExpression"] = ", ".join(f"#p{i}" for i in range(len(projection)))
        names.update({f"#p{i}": name for i, name in enumerate(projection)})
    elif draw(st.integers(0, 5)) == 0:
        request["Select"] = "COUNT"
    request["ExpressionAttributeNames"] = names
    request["ExpressionAttributeValues"] = values
    request["ScanIndexForward"] = draw(st.booleans())
    limit = draw(st.none() | st.integers(min_value=1, max_value=4))
    if limit is not None:
        request["Limit"] = limit
    return request


def _order(value: dict[str, str]) -> Any:
    kind, raw = next(iter(value.items()))
    return float(raw) if kind == "N" else raw


@functools.cache
def steps(layout: str) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    # a step is a query as often as a write
    step = st.one_of(st.tuples(st.just("query"), query_requests(layout)), writes(layout))
    return st.lists(step, min_size=1, max_size=16)


@functools.cache
def seeds(layout: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Three keys in four of the key space hold an item to start with."""
    present = st.tuples(*(mostly([key]) for key in all_keys(layout)))

    def filled(chosen: tuple[Any, ...]) -> st.SearchStrategy[list[dict[str, Any]]]:
        kept = [key for key in chosen if key]
        return st.lists(attributes(layout), min_size=len(kept), max_size=len(kept)).map(
            lambda more: [{**key, **extra} for key, extra in zip(kept, more, strict=True)]
        )

    return present.flatmap(filled)


@st.composite
def scenarios(draw: Any) -> tuple[str, list[dict[str, Any]], list[tuple[Any, ...]]]:
    layout = draw(st.sampled_from(sorted(LAYOUTS)))
    seed = draw(seeds(layout))
    drawn = draw(steps(layout))
    # now and then the table is dropped and created again, with the seed items: a new table, new maps
    recreate_at = draw(st.sampled_from([None, None, None, None]) | st.integers(0, len(drawn)))
    if recreate_at is not None:
        drawn.insert(recreate_at, ("recreate",))
    return layout, seed, drawn


# ---------------------------------------------------------------------------------------- running


class Side:
    def __init__(self, region: str, patched: bool) -> None:
        self.client = boto3.client("dynamodb", region_name=region)
        self.region = region
        self.patched = patched

    def table(self) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends["123456789012"][self.region].get_table(TABLE)

    def call(self, operation: str, **request: Any) -> Any:
        counts = dict(moto_index.QUERIES)
        try:
            if self.patched:
                answer: Any = getattr(self.client, operation)(**request)
            else:
                with moto_index.bypassed():
                    answer = getattr(self.client, operation)(**request)
            answer.pop("ResponseMetadata", None)
        except Exception as error:
            answer = ("error", type(error).__name__, str(error))
        if operation == "query":
            moved = {kind: moto_index.QUERIES[kind] - counts.get(kind, 0) for kind in ("partition", "index", "moto")}
            if self.patched:
                if not isinstance(answer, tuple):  # an answered Query came through the index or the partition
                    assert moved["moto"] == 0 and moved["partition"] + moved["index"] == 1, moved
                    assert moved["index" if "IndexName" in request else "partition"] == 1, moved
            else:
                assert moved["partition"] == moved["index"] == 0, moved
        return answer


def write_request(layout: str, step: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
    kind = step[0]
    if kind == "put":
        return "put_item", {"TableName": TABLE, "Item": step[1]}
    if kind == "delete":
        return "delete_item", {"TableName": TABLE, "Key": step[1]}
    if kind == "update":
        expression, names, values = step[2]
        request = {"TableName": TABLE, "Key": step[1], "UpdateExpression": expression}
        request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values
        return "update_item", request
    if kind == "batch":
        entries = []
        for sub in step[1]:
            if sub[0] == "put":
                entries.append({"PutRequest": {"Item": sub[1]}})
            else:
                entries.append({"DeleteRequest": {"Key": sub[1]}})
        return "batch_write_item", {"RequestItems": {TABLE: entries}}
    assert kind == "transact"
    entries = []
    for sub, condition in step[1]:
        operation, request = write_request(layout, sub)
        request.pop("TableName")
        request["TableName"] = TABLE
        name = {"put_item": "Put", "delete_item": "Delete", "update_item": "Update"}[operation]
        if condition:
            request["ConditionExpression"] = condition
        entries.append({name: request})
    return "transact_write_items", {"TransactItems": entries}


def check_same(patched: Side, reference: Side, operation: str, **request: Any) -> Any:
    mine = patched.call(operation, **request)
    theirs = reference.call(operation, **request)
    assert mine == theirs, (operation, request)
    return mine


@pytest.fixture(scope="module")
def sides() -> Iterator[tuple[Side, Side]]:
    from moto import mock_aws

    moto_patches.apply()
    mock = mock_aws()
    # no reset: the suite's session-wide moto server shares these backends
    mock.start(reset=False)
    try:
        pair = Side(PATCHED, patched=True), Side(REFERENCE, patched=False)
        yield pair
        for side in pair:
            side.client.delete_table(TableName=TABLE)
    finally:
        mock.stop(remove_data=False)


@pytest.mark.integration
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_index_queries_match_moto_page_for_page(sides: tuple[Side, Side], scenario: Any) -> None:
    patched, reference = sides
    layout, seed, steps = scenario
    for step in [("recreate",), *steps]:
        if step[0] == "recreate":
            for side in sides:
                with contextlib.suppress(side.client.exceptions.ResourceNotFoundException):
                    side.client.delete_table(TableName=TABLE)
                create_table(side.client, layout)
            for start in range(0, len(seed), 25):
                entries = [{"PutRequest": {"Item": item}} for item in seed[start : start + 25]]
                check_same(patched, reference, "batch_write_item", RequestItems={TABLE: entries})
            continue
        if step[0] != "query":
            operation, write = write_request(layout, step)
            check_same(patched, reference, operation, **write)
            continue
        request = dict(step[1])
        for _ in range(MAX_PAGES):
            page = check_same(patched, reference, "query", **request)
            if isinstance(page, tuple) or "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    # the reference really is moto's own walk: its table never got a map
    assert reference.table() not in moto_index._TABLES


def query_all(patched: Side, reference: Side, **request: Any) -> list[Any]:
    pages = []
    for _ in range(MAX_PAGES):
        page = check_same(patched, reference, "query", **request)
        pages.append(page)
        if isinstance(page, tuple) or "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return pages


@pytest.mark.integration
def test_index_maps_follow_new_indexes_partiql_and_restores(sides: tuple[Side, Side]) -> None:
    patched, reference = sides
    restored = f"{TABLE}-restored"
    seed = [
        {"pk": S(f"p{i % 4}"), "sk": N(str(i)), "g": S("ab"[i % 2]), "g2": N(str(i % 3)), "gs": N(str(i % 5))}
        for i in range(24)
    ]
    by_g = {"KeyConditionExpression": "g = :v", "ExpressionAttributeValues": {":v": S("a")}, "Limit": 5}
    by_g2 = {"KeyConditionExpression": "g2 = :v", "ExpressionAttributeValues": {":v": N("2")}, "Limit": 5}
    for side in sides:
        with contextlib.suppress(side.client.exceptions.ResourceNotFoundException):
            side.client.delete_table(TableName=TABLE)
        with contextlib.suppress(side.client.exceptions.ResourceNotFoundException):
            side.client.delete_table(TableName=restored)
        create_table(side.client, "range")
    check_same(
        patched, reference, "batch_write_item", RequestItems={TABLE: [{"PutRequest": {"Item": i}} for i in seed]}
    )
    before = query_all(patched, reference, TableName=TABLE, IndexName="by_g", **by_g)
    assert sum(page["Count"] for page in before) == 12

    # the index is dropped and made again on another attribute: its map is built anew
    for side in sides:
        side.client.update_table(TableName=TABLE, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_g"}}])
        side.client.update_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": kind} for name, kind in TYPES.items()],
            GlobalSecondaryIndexUpdates=[{"Create": _gsi("by_g", "g2", "gs", ALL)}],
        )
    after = query_all(patched, reference, TableName=TABLE, IndexName="by_g", **by_g2)
    assert sum(page["Count"] for page in after) == 8

    # PartiQL writes go through the same item store
    statement = f'UPDATE "{TABLE}" SET g2 = ? WHERE pk = ? AND sk = ?'
    check_same(patched, reference, "execute_statement", Statement=statement, Parameters=[N("2"), S("p0"), N("0")])
    pages = query_all(patched, reference, TableName=TABLE, IndexName="by_g", **by_g2)
    assert sum(page["Count"] for page in pages) == 9

    # a table restored from a backup is a new table with copied items: it starts without maps
    for side in sides:
        arn = side.client.create_backup(TableName=TABLE, BackupName="kith-backup")["BackupDetails"]["BackupArn"]
        side.client.restore_table_from_backup(TargetTableName=restored, BackupArn=arn)
    pages = query_all(patched, reference, TableName=restored, IndexName="by_g", **by_g2)
    assert sum(page["Count"] for page in pages) == 9
    for side in sides:
        side.client.delete_table(TableName=restored)
    assert reference.table() not in moto_index._TABLES
