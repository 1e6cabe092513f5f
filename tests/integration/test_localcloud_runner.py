"""The local cloud's event sources against a real moto server, wired by a tiny fixture template."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.localcloud.main import LocalApp
from infra.localcloud.runner import matches_any, next_cron_time, parse_filters, rate_seconds, wait_until
from infra.localcloud.template import load_template

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "localcloud"
_stacks = itertools.count(1)


@pytest.fixture(scope="module")
def app(moto_endpoint: str) -> Iterator[LocalApp]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    template = load_template(FIXTURES / "template.yaml")
    local = LocalApp(
        template,
        moto_endpoint,
        stack_name=f"lc-runner-{next(_stacks)}",
        base_dir=FIXTURES,
        api_port=None,
        poll_interval=0.05,
        retry_base_delay=0.05,
    )
    with local:
        yield local


def put(app: LocalApp, table: str, items: list[dict[str, Any]]) -> None:
    ddb = app.client("dynamodb")
    for item in items:
        ddb.put_item(TableName=app.physical[table], Item=item)


def module(app: LocalApp, function: str) -> Any:
    assert app.host is not None
    return app.host.module(function)


def queue_messages(app: LocalApp, queue: str, wait: float = 5.0) -> list[dict[str, Any]]:
    sqs = app.client("sqs")
    url = sqs.get_queue_url(QueueName=app.physical[queue].rsplit("/", 1)[1])["QueueUrl"]
    found: list[dict[str, Any]] = []

    def receive() -> bool:
        found.extend(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []))
        return bool(found)

    wait_until(receive, wait)
    return found


def test_filter_criteria_drop_records_that_match_no_pattern(app: LocalApp) -> None:
    # Given records of which only some match one of the mapping's two patterns
    put(
        app,
        "FilterTable",
        [
            {"pk": {"S": "KEEP#1"}, "value": {"S": "a"}},
            {"pk": {"S": "DROP#1"}, "value": {"S": "b"}},
            {"pk": {"S": "BIG#1"}, "n": {"N": "150"}, "kind": {"S": "ok"}},
            {"pk": {"S": "BIG#2"}, "n": {"N": "150"}, "kind": {"S": "skip"}},
            {"pk": {"S": "SMALL#1"}, "n": {"N": "5"}, "kind": {"S": "ok"}},
        ],
    )
    # When the pipeline drains
    app.drain(20)
    # Then only the matching records were delivered, in order
    delivered = [r["dynamodb"]["Keys"]["pk"]["S"] for b in module(app, "FilteredFunction").DELIVERIES for r in b]
    assert delivered == ["KEEP#1", "BIG#1"]
    # and a MODIFY of a KEEP# item is dropped by the eventName filter
    put(app, "FilterTable", [{"pk": {"S": "KEEP#1"}, "value": {"S": "changed"}}])
    app.drain(20)
    assert len([r for b in module(app, "FilteredFunction").DELIVERIES for r in b]) == 2
    assert app.runner is not None
    assert app.runner.stats()["streams"]["FilteredFunctionChanges"].filtered == 4


def test_stream_records_have_the_lambda_shape(app: LocalApp) -> None:
    record = module(app, "FilteredFunction").DELIVERIES[0][0]
    assert set(record) == {
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
        "eventSourceARN",
    }
    assert record["eventVersion"] == "1.1"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventName"] == "INSERT"
    assert ":table/" in record["eventSourceARN"] and "/stream/" in record["eventSourceARN"]
    body = record["dynamodb"]
    assert body["Keys"] == {"pk": {"S": "KEEP#1"}}
    assert body["NewImage"]["value"] == {"S": "a"}
    assert "OldImage" not in body
    assert body["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(body["ApproximateCreationDateTime"], int)
    assert body["SequenceNumber"].isdigit() and isinstance(body["SizeBytes"], int)


def test_report_batch_item_failures_retries_from_the_first_failed_record(app: LocalApp) -> None:
    # Given a batch in which the third record fails once
    put(
        app, "PartialTable", [{"pk": {"S": f"P{i}"}, "value": {"S": "fail-once" if i == 2 else "ok"}} for i in range(5)]
    )
    # When it is delivered
    app.drain(20)
    # Then the retry starts at the failed record, and the records before it are not redelivered
    handler = module(app, "PartialFunction")
    batches = [[r["dynamodb"]["Keys"]["pk"]["S"] for r in b] for b in handler.DELIVERIES]
    assert batches == [["P0", "P1", "P2", "P3", "P4"], ["P2", "P3", "P4"]]
    assert handler.SUCCEEDED == ["P0", "P1", "P2", "P3", "P4"]


def test_bisect_isolates_a_poison_record_and_sends_it_to_the_on_failure_queue(app: LocalApp) -> None:
    # Given eight records, one of them poison
    put(app, "BisectTable", [{"pk": {"S": f"B{i}"}, "value": {"S": "poison" if i == 5 else "ok"}} for i in range(8)])
    # When the pipeline drains
    app.drain(30)
    # Then every good record succeeded exactly once, and the poison one alone went to the destination
    handler = module(app, "BisectFunction")
    assert sorted(handler.SUCCEEDED) == [f"B{i}" for i in range(8) if i != 5]
    sizes = [len(b) for b in handler.DELIVERIES]
    assert sizes[0] == 8 and 1 in sizes
    failures = [json.loads(m["Body"]) for m in queue_messages(app, "FailureQueue")]
    bisect = [f for f in failures if f["DDBStreamBatchInfo"]["batchSize"] == 1]
    assert len(bisect) == 1
    poison_seq = next(
        r["dynamodb"]["SequenceNumber"]
        for b in handler.DELIVERIES
        for r in b
        if r["dynamodb"]["Keys"]["pk"]["S"] == "B5"
    )
    info = bisect[0]["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == poison_seq
    assert bisect[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert bisect[0]["responseContext"]["functionError"] == "Unhandled"
    assert bisect[0]["version"] == "1.0" and info["streamArn"].endswith(info["streamArn"].split("/")[-1])


def test_exhausted_retries_send_the_whole_batch_metadata_on(app: LocalApp) -> None:
    # Given a batch with a poison record and no bisection, two retries allowed
    put(app, "ExhaustTable", [{"pk": {"S": f"X{i}"}, "value": {"S": "poison" if i == 1 else "ok"}} for i in range(3)])
    # When it drains
    app.drain(30)
    # Then the function saw the batch three times (1 + 2 retries), then the stream moved on
    handler = module(app, "ExhaustFunction")
    assert [len(b) for b in handler.DELIVERIES] == [3, 3, 3]
    failures = [json.loads(m["Body"]) for m in queue_messages(app, "FailureQueue")]
    exhausted = [f for f in failures if f["DDBStreamBatchInfo"]["batchSize"] == 3]
    assert len(exhausted) == 1
    assert exhausted[0]["requestContext"]["approximateInvokeCount"] == 3
    assert exhausted[0]["requestContext"]["functionArn"].endswith("-ExhaustFunction")
    # and later records flow again
    put(app, "ExhaustTable", [{"pk": {"S": "X9"}, "value": {"S": "ok"}}])
    app.drain(20)
    assert "X9" in handler.SUCCEEDED


def test_sqs_partial_failures_come_back_and_then_land_in_the_dlq(app: LocalApp) -> None:
    # Given good and bad messages on a queue with maxReceiveCount 2 and a 1 s visibility timeout
    sqs = app.client("sqs")
    url = sqs.get_queue_url(QueueName=app.physical["WorkQueue"].rsplit("/", 1)[1])["QueueUrl"]
    for body in ["good-1", "bad", "good-2"]:
        sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
        )
    # When the pipeline drains (retries included)
    app.drain(30)
    # Then good messages were processed once, the bad one twice, and it now sits in the DLQ
    handler = module(app, "WorkerFunction")
    bodies = [r["body"] for r in handler.RECEIVED]
    assert sorted(b for b in bodies if b.startswith("good")) == ["good-1", "good-2"]
    assert bodies.count("bad") == 2
    counts = [r["attributes"]["ApproximateReceiveCount"] for r in handler.RECEIVED if r["body"] == "bad"]
    assert counts == ["1", "2"]
    dlq = queue_messages(app, "WorkDLQ")
    assert [m["Body"] for m in dlq] == ["bad"]
    record = handler.RECEIVED[0]
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"].startswith("arn:aws:sqs:us-east-1:123456789012:")
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "test",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert {"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
        record["attributes"]
    )
    assert len(record["md5OfBody"]) == 32 and record["receiptHandle"]


def test_schedules_fire_at_start_and_on_demand(app: LocalApp) -> None:
    assert app.runner is not None
    tick = module(app, "TickFunction")
    # Given the runner started: the schedule fired once
    assert wait_until(lambda: len(tick.EVENTS) >= 1, 5)
    # When triggered
    app.runner.trigger_now("TickFunction")
    # Then it fires again, with EventBridge's Scheduled Event shape and its own environment
    assert wait_until(lambda: len(tick.EVENTS) >= 2, 5)
    event = tick.EVENTS[-1]
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"][0].startswith("arn:aws:events:us-east-1:123456789012:rule/")
    env = tick.ENVIRONMENTS[-1]
    assert env["GREETING"] == "hello"
    assert env["FILTER_TABLE"] == app.physical["FilterTable"]
    assert env["WORK_QUEUE_URL"].startswith(app.endpoint_url + "/123456789012/")
    assert env["BUS_NAME"] == f"{app.stack_name}-bus"
    assert env["AWS_ENDPOINT_URL"] == app.endpoint_url
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == f"{app.stack_name}-TickFunction"


def test_handler_errors_are_logged_and_the_runner_keeps_going(app: LocalApp) -> None:
    assert app.host is not None and app.runner is not None
    # the bisect and exhaust tests above made handlers raise; every poller must still be alive
    assert all(p.is_alive() for p in [*app.runner.stream_pollers, *app.runner.queue_pollers])
    assert app.host.stats.errors["BisectFunction"] > 0


def test_filter_patterns_cover_lambda_operators() -> None:
    patterns = parse_filters(
        {
            "Filters": [
                {"Pattern": json.dumps({"a": [{"exists": False}], "b": [{"suffix": ".eth"}]})},
                {"Pattern": json.dumps({"c": [None, {"equals-ignore-case": "YES"}]})},
                {"Pattern": json.dumps({"d": {"e": [{"numeric": [">", 1, "<=", 5]}]}})},
                {"Pattern": json.dumps({"f": [{"anything-but": {"prefix": "x"}}]})},
                {"Pattern": json.dumps({"$or": [{"g": [1]}, {"h": [True]}]})},
            ]
        }
    )
    assert matches_any(patterns, {"b": "vitalik.eth"})
    assert not matches_any(patterns, {"a": 1, "b": "vitalik.eth"})
    assert matches_any(patterns, {"c": None}) and matches_any(patterns, {"c": "yes"})
    assert matches_any(patterns, {"d": {"e": 5}}) and not matches_any(patterns, {"d": {"e": 6}})
    assert matches_any(patterns, {"f": "abc"}) and not matches_any(patterns, {"f": "xyz"})
    assert matches_any(patterns, {"g": 1}) and matches_any(patterns, {"h": True})
    assert not matches_any(patterns, {"g": "1"}) and not matches_any(patterns, {})
    assert matches_any([], {"anything": 1})


def test_schedule_expressions() -> None:
    import datetime as dt

    assert rate_seconds("rate(1 minute)") == 60 and rate_seconds("rate(2 hours)") == 7200
    after = dt.datetime(2024, 1, 1, 12, 30, tzinfo=dt.UTC)  # a Monday
    assert next_cron_time("cron(0 3 * * ? *)", after) == dt.datetime(2024, 1, 2, 3, 0, tzinfo=dt.UTC)
    assert next_cron_time("cron(15 10 ? * MON-FRI *)", after) == dt.datetime(2024, 1, 2, 10, 15, tzinfo=dt.UTC)
    assert next_cron_time("cron(0/20 * * * ? *)", after) == dt.datetime(2024, 1, 1, 12, 40, tzinfo=dt.UTC)
