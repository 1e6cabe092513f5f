"""The store toolkit against moto's server: paging with filters, exactly-once transactions, queue and
bus batches, and every key shape read back by its inverse."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from botocore.exceptions import ClientError

from shared.retry import Backoff, RetriesExhausted
from shared.store import dynamo, keys, paging, transact
from shared.store.bus import BusEvent, publish
from shared.store.queue import send_batch
from tests.conftest import Deployed

pytestmark = pytest.mark.integration

QUICK = Backoff(attempts=3, base_delay=0.0, max_delay=0.0)


def test_key_shapes_read_back_by_their_inverses() -> None:
    address = "0x" + "ab" * 20
    assert keys.wallet_of(keys.wallet_pk(address)) == address
    assert keys.wallet_of(keys.profile_key(address)[keys.PK]) == address
    assert keys.wallet_item_kind(keys.profile_key(address)[keys.SK]) == "profile"
    assert keys.wallet_item_kind(keys.tag_key(address, "vip")[keys.SK]) == "tag"
    assert keys.tag_of(keys.tag_key(address, "vip")[keys.SK]) == "vip"
    assert keys.target_of(keys.target_key("c1", address, "once")[keys.SK]) == (address, "once")
    assert keys.attribution_wallet_of(keys.attribution_key(address, "c1")[keys.PK]) == address
    assert keys.frequency_wallet_of(keys.frequency_key(address)[keys.PK]) == address
    assert keys.member_of(keys.member_key("s1", address)[keys.SK]) == address
    # a key of another shape is refused, not misread
    with pytest.raises(keys.KeyShapeError):
        keys.wallet_of(keys.frequency_key(address)[keys.PK])


def test_query_page_fills_a_filtered_page_and_resumes_exactly_after_it(deployed: Deployed) -> None:
    # Given 30 items in one partition, every third one flagged
    table = deployed.app_table
    dynamo.batch_write(
        table,
        puts=[{"pk": {"S": "PAGING#t"}, "sk": {"S": f"{i:03d}"}, "flag": {"BOOL": i % 3 == 0}} for i in range(30)],
    )
    query: dict[str, Any] = {
        "KeyConditionExpression": "pk = :p",
        "FilterExpression": "flag = :t",
        "ExpressionAttributeValues": {":p": {"S": "PAGING#t"}, ":t": {"BOOL": True}},
    }
    # When it is read in pages of 4 flagged items
    seen: list[str] = []
    start = None
    pages = 0
    while True:
        page = paging.query_page(table, limit=4, start=start, **query)
        pages += 1
        assert len(page.items) == 4 or page.next_key is None
        seen += [item["sk"]["S"] for item in page.items]
        if page.next_key is None:
            break
        start = page.next_key
    # Then every flagged item comes once, in order, and query_all and count agree
    expected = [f"{i:03d}" for i in range(0, 30, 3)]
    assert seen == expected and pages == 3
    assert [item["sk"]["S"] for item in paging.query_all(table, **query)] == expected
    assert (
        paging.count(table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "PAGING#t"}}) == 30
    )


def test_apply_once_does_the_work_once_and_retries_a_lost_race(deployed: Deployed) -> None:
    table = deployed.app_table
    marker = {"pk": {"S": "ONCE#e1"}, "sk": {"S": "APPLIED"}}
    target = {"pk": {"S": "ONCE#target"}, "sk": {"S": "DOC"}}
    tries = 0

    def attempt() -> int:
        nonlocal tries
        tries += 1
        current = dynamo.client("dynamodb").get_item(TableName=table, Key=target, ConsistentRead=True).get("Item")
        version = transact.version_of(current)
        total = int(current["total"]["N"]) if current else 0
        dynamo.client("dynamodb").transact_write_items(
            TransactItems=[
                transact.marker_write(table, marker, 1, "0xblock"),
                transact.versioned_put(table, {**target, "total": {"N": str(total + 5)}}, version),
            ]
        )
        return total + 5

    # When one delivery applies the event, and a redelivery tries again
    assert transact.apply_once(attempt, what="test event", backoff=QUICK) == 5
    assert transact.apply_once(attempt, what="test event", backoff=QUICK) is None
    item = dynamo.client("dynamodb").get_item(TableName=table, Key=target, ConsistentRead=True)["Item"]
    # Then the work counted once
    assert item["total"]["N"] == "5" and tries == 2

    # And a write that loses a race on the items (not the marker) is retried with a fresh read
    other = {"pk": {"S": "ONCE#e2"}, "sk": {"S": "APPLIED"}}
    raced = {"done": False}

    def racing_attempt() -> str:
        current = dynamo.client("dynamodb").get_item(TableName=table, Key=target, ConsistentRead=True)["Item"]
        version = transact.version_of(current)
        if not raced["done"]:
            raced["done"] = True
            dynamo.client("dynamodb").put_item(TableName=table, Item={**current, "v": {"N": str(version + 1)}})
        dynamo.client("dynamodb").transact_write_items(
            TransactItems=[
                transact.marker_write(table, other, 1, "0xblock"),
                transact.versioned_put(table, {**target, "total": {"N": "7"}}, version),
            ]
        )
        return "applied"

    assert transact.apply_once(racing_attempt, what="raced event", backoff=QUICK) == "applied"


def test_a_guarded_put_writes_only_over_an_older_record_and_reads_back_by_key(deployed: Deployed) -> None:
    table = deployed.app_table
    key = {keys.PK: "GUARD#record", keys.SK: "DOC"}
    db = dynamo.client("dynamodb")

    def put(block: int, version: int) -> None:
        item = dynamo.to_item({**key, "block": block})
        db.transact_write_items(
            TransactItems=[transact.versioned_put(table, item, version, transact.below("block", block))]
        )

    # Given a record of block 5 (the guard does not apply to an item not yet there)
    put(5, 0)
    # When a write of an older block comes at the current version, it is refused
    with pytest.raises(ClientError) as refused:
        put(4, 1)
    assert transact.cancellation_reasons(refused.value) == [transact.CONDITION_FAILED]
    # And a newer block is written
    put(6, 1)

    # Then reading by key (asked twice, and with a key that is not there) finds the newer record once
    found = dynamo.batch_get_by_key(table, [key, dict(key), {keys.PK: "GUARD#none", keys.SK: "DOC"}])
    assert list(found) == [(key[keys.PK], key[keys.SK])]
    record = dynamo.from_item(found[(key[keys.PK], key[keys.SK])])
    assert record["block"] == 6 and transact.version_of(found[(key[keys.PK], key[keys.SK])]) == 2


def test_a_failure_that_is_not_a_cancellation_is_not_swallowed(deployed: Deployed) -> None:
    def attempt() -> None:
        dynamo.client("dynamodb").get_item(TableName="no-such-table", Key={"pk": {"S": "x"}, "sk": {"S": "y"}})

    with pytest.raises(ClientError):
        transact.apply_once(attempt, what="missing table", backoff=QUICK)


def test_send_batch_sends_every_body_in_batches_of_ten(deployed: Deployed) -> None:
    queue_url = deployed.physical["BackfillQueue"]
    bodies = [json.dumps({"n": n}) for n in range(23)]
    assert send_batch(queue_url, bodies, what="test messages", backoff=QUICK) == 3
    sqs = dynamo.client("sqs")
    received: list[int] = []
    while True:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60)
        messages = answer.get("Messages", [])
        if not messages:
            break
        received += [json.loads(m["Body"])["n"] for m in messages]
    assert sorted(received) == list(range(23))
    with pytest.raises(ValueError, match="no queue URL"):
        send_batch("", bodies, what="test messages")


def test_send_batch_fails_loudly_when_the_queue_keeps_refusing(deployed: Deployed) -> None:
    with pytest.raises((RetriesExhausted, ClientError)):
        send_batch(deployed.physical["BackfillQueue"] + "-gone", ["{}"], what="lost messages", backoff=QUICK)


def test_publish_puts_every_event_in_requests_of_ten(deployed: Deployed) -> None:
    bus = f"kith-toolkit-{deployed.app_table}"
    dynamo.client("events").create_event_bus(Name=bus)
    sqs = dynamo.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"toolkit-{deployed.app_table}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rules = dynamo.client("events")
    rules.put_rule(Name="happened", EventBusName=bus, EventPattern=json.dumps({"detail-type": ["test.happened"]}))
    rules.put_targets(Rule="happened", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    events = [BusEvent(source="kith.test", detail_type="test.happened", detail={"n": n}) for n in range(12)]
    assert publish(bus, events, what="test events", backoff=QUICK) == 2
    delivered: list[int] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        # each in the envelope AWS delivers, which the triggers function parses
        delivered += [EventBridgeModel.model_validate_json(m["Body"]).detail["n"] for m in messages]
    assert sorted(delivered) == list(range(12))
    with pytest.raises(ValueError, match="no event bus"):
        publish("", events, what="test events")
