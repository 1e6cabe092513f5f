"""moto's server, started as the local cloud starts it, answers many concurrent mixed requests without an error.

Without the request lock of infra.localcloud.moto_patches, moto's handlers walk dicts other server
threads are writing: here an UpdateItem adding attributes to the item a GetItem is copying made a
few dozen requests a run fail with a 500 ("dictionary changed size during iteration", "dictionary
keys changed during iteration"). boto3 retries nothing here, so any 5xx (or any other error) fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from infra.localcloud.anvil import free_port
from infra.localcloud.moto_process import MotoProcess

THREADS = 8
ROUNDS = 100  # per thread; each round is one of the operations below
TABLE = "kith-concurrency"
SEED_ITEMS = 1500
HOT = {"pk": {"S": "hot"}, "sk": {"S": "0"}}
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=4)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("moto")
    process = MotoProcess(free_port(), folder / "moto.log").start()
    try:
        yield process.url
    finally:
        process.stop()
    log = (folder / "moto.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]


def client(service: str, endpoint: str) -> Any:
    return boto3.session.Session().client(service, endpoint_url=endpoint, region_name="us-east-1", config=NO_RETRIES)


def create_table(dynamodb: Any) -> str:
    definitions = [{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "g", "gs")]
    description = dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=definitions,
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "gs", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return str(description["TableDescription"]["LatestStreamArn"])


def seed(dynamodb: Any) -> None:
    # a big hot item: copying and serialising it takes long enough for another thread to edit it meanwhile
    hot = {**HOT, **{f"attribute{i}": {"S": "y" * 40} for i in range(300)}}
    dynamodb.put_item(TableName=TABLE, Item=hot)
    for start in range(0, SEED_ITEMS, 25):
        entries = [
            {"PutRequest": {"Item": {"pk": {"S": f"seed{i % 50}"}, "sk": {"S": f"{i:06d}"}, "g": {"S": f"g{i % 7}"}}}}
            for i in range(start, min(start + 25, SEED_ITEMS))
        ]
        for entry in entries:
            entry["PutRequest"]["Item"]["gs"] = {"S": entry["PutRequest"]["Item"]["sk"]["S"]}
        dynamodb.batch_write_item(RequestItems={TABLE: entries})


class Worker(threading.Thread):
    def __init__(self, number: int, endpoint: str, stream_arn: str, queue_url: str) -> None:
        super().__init__(name=f"worker-{number}")
        self.number = number
        self.dynamodb = client("dynamodb", endpoint)
        self.streams = client("dynamodbstreams", endpoint)
        self.sqs = client("sqs", endpoint)
        self.stream_arn = stream_arn
        self.queue_url = queue_url
        self.errors: list[str] = []
        self.puts = 0
        self.records = 0

    def key(self, n: int) -> dict[str, Any]:
        return {"pk": {"S": f"w{self.number}"}, "sk": {"S": f"{n:06d}"}}

    def run(self) -> None:
        shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for n in range(ROUNDS):
            try:
                iterator = self.step(n, iterator)
            except Exception as error:
                self.errors.append(f"{self.name} round {n}: {type(error).__name__}: {error}")

    def step(self, n: int, iterator: str) -> str:
        operation = (n + self.number) % 12
        group = {"S": f"g{(n * 3 + self.number) % 7}"}
        if operation == 0 or self.puts == 0:
            item = {**self.key(self.puts), "g": group, "gs": {"S": f"{self.number}-{n:06d}"}, "n": {"N": "0"}}
            self.dynamodb.put_item(TableName=TABLE, Item=item)
            self.puts += 1
        elif operation == 1:
            page = self.dynamodb.query(
                TableName=TABLE,
                IndexName="by_g",
                KeyConditionExpression="g = :g",
                ExpressionAttributeValues={":g": group},
                Limit=25,
            )
            if "LastEvaluatedKey" in page:
                self.dynamodb.query(
                    TableName=TABLE,
                    IndexName="by_g",
                    KeyConditionExpression="g = :g",
                    ExpressionAttributeValues={":g": group},
                    Limit=25,
                    ExclusiveStartKey=page["LastEvaluatedKey"],
                )
        elif operation == 2:
            self.dynamodb.update_item(
                TableName=TABLE,
                Key=self.key(n % self.puts),
                UpdateExpression="SET g = :g ADD n :one",
                ExpressionAttributeValues={":g": group, ":one": {"N": "1"}},
            )
        elif operation == 3:
            self.dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": TABLE,
                            "Item": {**self.key(self.puts), "g": group, "gs": {"S": f"t{n}"}, "n": {"N": "0"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": TABLE,
                            "Key": self.key(0),
                            "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            )
            self.puts += 1
        elif operation == 4:
            answer = self.streams.get_records(ShardIterator=iterator, Limit=200)
            self.records += len(answer["Records"])
            iterator = answer["NextShardIterator"]
        elif operation == 5:
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=f"{self.name}-{n}")
        elif operation == 6:
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=5, WaitTimeSeconds=0)
            for message in answer.get("Messages", []):
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        elif operation == 7:
            # Scan walks the whole table while the others write to it
            self.dynamodb.scan(TableName=TABLE, Limit=50)
            self.dynamodb.get_item(TableName=TABLE, Key=self.key(n % self.puts))
        elif operation in (8, 9):
            # one item every worker edits, adding and dropping attributes: its attribute dict changes size
            self.dynamodb.update_item(
                TableName=TABLE,
                Key=HOT,
                UpdateExpression=f"SET a{self.number}_{n % 20} = :v REMOVE a{self.number}_{(n + 10) % 20}",
                ExpressionAttributeValues={":v": {"S": "x" * 50}},
            )
        else:
            # ... while the others read it (moto copies and serialises the live item)
            self.dynamodb.get_item(TableName=TABLE, Key=HOT)
        return iterator


@pytest.mark.integration
def test_concurrent_mixed_requests_never_fail(moto: str) -> None:
    dynamodb = client("dynamodb", moto)
    stream_arn = create_table(dynamodb)
    queue_url = client("sqs", moto).create_queue(QueueName="kith-concurrency")["QueueUrl"]
    seed(dynamodb)

    workers = [Worker(number, moto, stream_arn, queue_url) for number in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert not any(worker.is_alive() for worker in workers)

    errors = [error for worker in workers for error in worker.errors]
    assert errors == [], "\n".join(errors[:20])
    # every write landed: each worker's partition holds what it put, and the index agrees with the table
    for worker in workers:
        items = dynamodb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": f"w{worker.number}"}},
        )["Items"]
        assert len(items) == worker.puts
    for group in range(7):
        through_index: list[Any] = []
        request: dict[str, Any] = {
            "TableName": TABLE,
            "IndexName": "by_g",
            "KeyConditionExpression": "g = :g",
            "ExpressionAttributeValues": {":g": {"S": f"g{group}"}},
        }
        while True:
            page = dynamodb.query(**request)
            through_index += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        scanned = dynamodb.scan(
            TableName=TABLE,
            FilterExpression="g = :g AND attribute_exists(gs)",
            ExpressionAttributeValues={":g": {"S": f"g{group}"}},
        )["Items"]
        assert sorted(str(item) for item in through_index) == sorted(str(item) for item in scanned)
    assert sum(worker.records for worker in workers) > 0


@pytest.mark.integration
def test_a_long_poll_lets_other_requests_through(moto: str) -> None:
    sqs = client("sqs", moto)
    queue_url = sqs.create_queue(QueueName="kith-long-poll")["QueueUrl"]
    received: list[tuple[float, list[Any]]] = []

    def poll() -> None:
        started = time.monotonic()
        answer = client("sqs", moto).receive_message(QueueUrl=queue_url, WaitTimeSeconds=5)
        received.append((time.monotonic() - started, answer.get("Messages", [])))

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.5)
    started = time.monotonic()
    sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
    client("dynamodb", moto).list_tables()
    sent_in = time.monotonic() - started
    poller.join(timeout=10)

    # the poll waits without the lock: the send is not held up for the poll's 5 s, and wakes it
    assert sent_in < 2.5, sent_in
    (waited, messages), *_ = received
    assert [message["Body"] for message in messages] == ["hello"]
    assert waited < 4.5, waited
