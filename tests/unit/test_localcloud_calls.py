"""The IAM requests infra.localcloud.calls derives from AWS calls: what AWS authorises for each."""

from __future__ import annotations

from typing import Any

import pytest

from infra.localcloud.calls import IamRequest, Underivable, derive

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/App"
SCHEMA = {"App": {None: "pk", "gsi1": "gsi1pk"}, "Events": {None: "pk"}}


def _derive(service: str, operation: str, params: dict[str, Any], **kwargs: Any) -> list[IamRequest]:
    return derive(service, operation, params, region="us-east-1", key_schema=SCHEMA.__getitem__, **kwargs)


def _keys(*values: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return (("dynamodb:LeadingKeys", tuple(sorted(values))),)


def test_a_transaction_is_authorised_item_by_item_as_its_own_actions() -> None:
    items = [
        {"Put": {"TableName": "App", "Item": {"pk": {"S": "WALLET#1"}, "sk": {"S": "PROFILE"}}}},
        {"Update": {"TableName": "App", "Key": {"pk": {"S": "WALLET#2"}, "sk": {"S": "PROFILE"}}}},
        {"Delete": {"TableName": "Events", "Key": {"pk": {"S": "EVT#3"}, "sk": {"S": "x"}}}},
        {"ConditionCheck": {"TableName": "App", "Key": {"pk": {"S": "CHAIN#1"}, "sk": {"S": "CURSOR"}}}},
    ]
    assert _derive("dynamodb", "TransactWriteItems", {"TransactItems": items}) == [
        IamRequest("dynamodb:PutItem", TABLE, _keys("WALLET#1")),
        IamRequest("dynamodb:UpdateItem", TABLE, _keys("WALLET#2")),
        IamRequest("dynamodb:DeleteItem", "arn:aws:dynamodb:us-east-1:123456789012:table/Events", _keys("EVT#3")),
        IamRequest("dynamodb:ConditionCheckItem", TABLE, _keys("CHAIN#1")),
    ]


def test_a_batch_is_one_request_per_table_with_every_partition_it_touches() -> None:
    writes = {
        "App": [
            {"PutRequest": {"Item": {"pk": {"S": "B"}, "sk": {"S": "1"}, "gsi1pk": {"S": "X"}}}},
            {"DeleteRequest": {"Key": {"pk": {"S": "A"}, "sk": {"S": "1"}}}},
            {"PutRequest": {"Item": {"pk": {"S": "A"}, "sk": {"S": "2"}}}},
        ]
    }
    assert _derive("dynamodb", "BatchWriteItem", {"RequestItems": writes}) == [
        IamRequest("dynamodb:BatchWriteItem", TABLE, _keys("A", "B"))
    ]
    gets = {"App": {"Keys": [{"pk": {"S": "C"}, "sk": {"S": "1"}}]}, "Events": {"Keys": [{"pk": {"S": "D"}}]}}
    assert [r.resource.rsplit("/", 1)[1] for r in _derive("dynamodb", "BatchGetItem", {"RequestItems": gets})] == [
        "App",
        "Events",
    ]


def test_an_index_query_is_authorised_on_the_index_with_its_partition_value() -> None:
    params = {
        "TableName": "App",
        "IndexName": "gsi1",
        "KeyConditionExpression": "#p = :p AND begins_with(#s, :s)",
        "ExpressionAttributeNames": {"#p": "gsi1pk", "#s": "gsi1sk"},
        "ExpressionAttributeValues": {":p": {"S": "CONTACTS"}, ":s": {"S": "x"}},
    }
    assert _derive("dynamodb", "Query", params) == [
        IamRequest("dynamodb:Query", TABLE + "/index/gsi1", _keys("CONTACTS"))
    ]
    # on the table, the sort key's equality is not the partition
    params = {"TableName": "App", "KeyConditionExpression": "sk = :s AND pk = :p"}
    params["ExpressionAttributeValues"] = {":s": {"S": "PROFILE"}, ":p": {"S": "WALLET#1"}}
    assert _derive("dynamodb", "Query", params)[0].context == _keys("WALLET#1")


def test_queues_parameters_buses_and_the_sender_get_their_arns() -> None:
    url = "http://127.0.0.1:4566/123456789012/kith-SendsQueue-ABC"
    assert _derive("sqs", "SendMessageBatch", {"QueueUrl": url, "Entries": []}) == [
        IamRequest("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:kith-SendsQueue-ABC")
    ]
    assert _derive("ssm", "GetParameter", {"Name": "/kith/rpc/1"})[0].resource == (
        "arn:aws:ssm:us-east-1:123456789012:parameter/kith/rpc/1"
    )
    assert _derive("ssm", "GetParameter", {"Name": "flat"})[0].resource.endswith(":parameter/flat")
    entries = [{"EventBusName": "kith-bus"}, {"EventBusName": "kith-bus"}, {}]
    assert [r.resource.rsplit("/", 1)[1] for r in _derive("events", "PutEvents", {"Entries": entries})] == [
        "default",
        "kith-bus",
    ]
    email = {
        "FromEmailAddress": "Kith <campaigns@kith.example.com>",
        "Destination": {"ToAddresses": ["iris@example.org"]},
        "ConfigurationSetName": "kith",
    }
    sent = _derive("sesv2", "SendEmail", email)
    assert [r.resource.rsplit(":", 1)[1] for r in sent] == [
        "identity/campaigns@kith.example.com",
        "configuration-set/kith",
    ]
    assert dict(sent[0].context)["ses:FromAddress"] == "campaigns@kith.example.com"


def test_a_poller_reads_its_own_stream_and_anything_unknown_is_refused() -> None:
    stream = TABLE + "/stream/2026"
    assert _derive("dynamodbstreams", "GetRecords", {"ShardIterator": "x"}, stream_arn=stream) == [
        IamRequest("dynamodb:GetRecords", stream)
    ]
    with pytest.raises(Underivable):
        _derive("dynamodbstreams", "GetRecords", {"ShardIterator": "x"})
    with pytest.raises(Underivable):
        _derive("dynamodb", "ExecuteStatement", {"Statement": "SELECT * FROM App"})
    with pytest.raises(Underivable):
        _derive("sts", "GetCallerIdentity", {})
