"""The pollers of the event-source mappings: DynamoDB streams and SQS queues, delivered as Lambda does."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.localcloud.filters import matches_any
from infra.localcloud.functions import FunctionError
from infra.localcloud.records import (
    all_identifiers_valid,
    failed_index,
    iso_time,
    sqs_filter_view,
    sqs_lambda_record,
    stream_lambda_record,
)
from infra.localcloud.sources import QueueMappingSpec, StreamMappingSpec

if TYPE_CHECKING:  # the runner owns its pollers; they only call back into it
    from infra.localcloud.runner import Runner

log = logging.getLogger("kith.localcloud.runner")

# Records a stream poller reads ahead of delivery, as Lambda's pollers do; it also tells the backlog.
STREAM_READ_AHEAD = 10_000


@dataclass
class MappingStats:
    batches: int = 0
    records: int = 0  # delivered in successful invocations
    filtered: int = 0
    failed_invocations: int = 0
    discarded: int = 0  # sent to the on-failure destination (or dropped without one)


class _Poller(threading.Thread):
    def __init__(self, runner: Runner, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.runner = runner
        self.stopping = threading.Event()
        self.busy = False
        self.last_empty_poll = 0.0  # monotonic start time of the latest poll that found nothing to do

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.step()
            except Exception:
                # a broken poll must never stop the local cloud: log it and try again shortly
                log.exception("%s: polling failed; retrying in 1 s", self.name)
                self.busy = False
                self.stopping.wait(1.0)

    def step(self) -> None:
        raise NotImplementedError


class StreamPoller(_Poller):
    """One DynamoDB stream mapping: reads every shard in order and delivers batches like Lambda does."""

    def __init__(self, runner: Runner, spec: StreamMappingSpec) -> None:
        super().__init__(runner, f"stream:{spec.logical_id}")
        self.spec = spec
        self.client = runner.client("dynamodbstreams")
        self.sqs = runner.client("sqs")
        self.stats = MappingStats()
        self.iterators: dict[str, str] = {}
        self.buffer: list[dict[str, Any]] = []
        self.buffer_since = 0.0
        self.shard_id = ""

    def _ensure_iterators(self) -> None:
        if self.iterators:
            return
        stream = self.client.describe_stream(StreamArn=self.spec.stream_arn)["StreamDescription"]
        position = (
            self.spec.starting_position if self.spec.starting_position in ("TRIM_HORIZON", "LATEST") else ("LATEST")
        )
        for shard in stream.get("Shards", []):
            response = self.client.get_shard_iterator(
                StreamArn=self.spec.stream_arn, ShardId=shard["ShardId"], ShardIteratorType=position
            )
            self.iterators[shard["ShardId"]] = response["ShardIterator"]

    def step(self) -> None:
        self._ensure_iterators()
        if not self.iterators:
            self.last_empty_poll = time.monotonic()
            self.stopping.wait(self.runner.poll_interval)
            return
        # moto has one shard per table; several shards are read one after another, each in order
        for shard_id in list(self.iterators):
            if self.stopping.is_set():
                return
            self._step_shard(shard_id)

    def _step_shard(self, shard_id: str) -> None:
        self.shard_id = shard_id
        started = time.monotonic()
        fetched = 0
        if len(self.buffer) < max(self.spec.batch_size, STREAM_READ_AHEAD):
            response = self.client.get_records(ShardIterator=self.iterators[shard_id], Limit=1000)
            next_iterator = response.get("NextShardIterator")
            if next_iterator is None:
                del self.iterators[shard_id]
            else:
                self.iterators[shard_id] = next_iterator
            fetched = len(response.get("Records", []))
            if fetched:
                self.runner.touch()
            for raw in response.get("Records", []):
                record = stream_lambda_record(raw, self.spec.stream_arn, self.runner.region)
                # filtering happens before batching: a dropped record is simply checkpointed past
                if matches_any(list(self.spec.filters), record):
                    if not self.buffer:
                        self.buffer_since = time.monotonic()
                    self.buffer.append(record)
                else:
                    self.stats.filtered += 1
        if not self.buffer:
            if not fetched:
                self.last_empty_poll = started
                self.stopping.wait(self.runner.poll_interval)
            return
        full = len(self.buffer) >= self.spec.batch_size
        waited = time.monotonic() - self.buffer_since
        if not full and waited < self.spec.batching_window / self.runner.speed:
            # MaximumBatchingWindowInSeconds: gather more records until the batch fills or the window ends
            self.stopping.wait(min(self.runner.poll_interval, self.spec.batching_window))
            return
        batch = self.buffer[: self.spec.batch_size]
        self.busy = True
        try:
            self._deliver(batch)
        finally:
            del self.buffer[: len(batch)]
            self.busy = False
            self.runner.touch()

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        """Deliver `records` until they succeed or are discarded; halves retry separately when bisecting."""
        attempts = 0
        while records and not self.stopping.is_set():
            expired = self._expired(records)
            if expired:
                self._discard(records, "RecordAgeExceeded", attempts, function_error=False)
                return
            identifiers = [r["dynamodb"]["SequenceNumber"] for r in records]
            try:
                response = self.runner.host.invoke(self.spec.function, {"Records": records})
            except FunctionError:
                failed_at: int | None = 0
                raised = True
            else:
                failed_at = failed_index(response, identifiers, self.spec.report_batch_item_failures)
                raised = False
            if failed_at is None:
                self.stats.batches += 1
                self.stats.records += len(records)
                return
            self.stats.failed_invocations += 1
            if failed_at > 0:
                # the checkpoint moves past the records before the first reported failure
                self.stats.records += failed_at
                records = records[failed_at:]
            attempts += 1
            if self.spec.maximum_retry_attempts >= 0 and attempts > self.spec.maximum_retry_attempts:
                self._discard(records, "RetryAttemptsExhausted", attempts, function_error=raised)
                return
            if raised and self.spec.bisect_on_error and len(records) > 1:
                middle = len(records) // 2
                self._deliver(records[:middle])
                self._deliver(records[middle:])
                return
            self.stopping.wait(self.runner.retry_delay(attempts))

    def _expired(self, records: list[dict[str, Any]]) -> bool:
        limit = self.spec.maximum_record_age
        if limit < 0:
            return False
        created = records[0]["dynamodb"].get("ApproximateCreationDateTime")
        return created is not None and time.time() - float(created) > limit

    def _discard(self, records: list[dict[str, Any]], condition: str, attempts: int, function_error: bool) -> None:
        self.stats.discarded += len(records)
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        log.warning(
            "%s: %s; %d record(s) %s..%s leave the stream%s",
            self.spec.logical_id,
            condition,
            len(records),
            first["SequenceNumber"],
            last["SequenceNumber"],
            " for the on-failure destination" if self.spec.on_failure_url else " (no on-failure destination)",
        )
        if self.spec.on_failure_url is None:
            return
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            response_context["functionError"] = "Unhandled"
        document = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.runner.host.spec(self.spec.function).arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": iso_time(time.time()),
            "DDBStreamBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": iso_time(float(first.get("ApproximateCreationDateTime", 0))),
                "approximateArrivalOfLastRecord": iso_time(float(last.get("ApproximateCreationDateTime", 0))),
                "batchSize": len(records),
                "streamArn": self.spec.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.spec.on_failure_url, MessageBody=json.dumps(document))


class QueuePoller(_Poller):
    """One worker of an SQS mapping; MaximumConcurrency workers share a queue like Lambda's pollers."""

    def __init__(self, runner: Runner, spec: QueueMappingSpec, index: int, stats: MappingStats) -> None:
        super().__init__(runner, f"sqs:{spec.logical_id}#{index}")
        self.spec = spec
        self.client = runner.client("sqs")
        self.stats = stats
        self.visibility_timeout = float(
            self.client.get_queue_attributes(QueueUrl=spec.queue_url, AttributeNames=["VisibilityTimeout"])[
                "Attributes"
            ]["VisibilityTimeout"]
        )
        timeout = runner.host.spec(spec.function).timeout
        if self.visibility_timeout < timeout and index == 0:
            # AWS refuses such a mapping: a message would reappear while its first delivery still runs
            log.warning(
                "%s: the queue's visibility timeout (%.0f s) is shorter than %s's timeout (%d s)",
                spec.logical_id,
                self.visibility_timeout,
                spec.function,
                timeout,
            )

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        response = self.client.receive_message(
            QueueUrl=self.spec.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def step(self) -> None:
        started = time.monotonic()
        messages = self._receive(min(10, self.spec.batch_size), 1)
        if not messages:
            self.last_empty_poll = started
            return
        self.busy = True
        try:
            self.runner.touch()
            window = self.spec.batching_window / self.runner.speed
            first = time.monotonic()
            # with a batching window (or a batch above 10) Lambda keeps receiving until full or the window ends
            while len(messages) < self.spec.batch_size and window > 0 and time.monotonic() - first < window:
                more = self._receive(min(10, self.spec.batch_size - len(messages)), 0)
                if not more:
                    self.stopping.wait(min(self.runner.poll_interval, window))
                messages += more
            self._process(messages)
        finally:
            self.busy = False
            self.runner.touch()

    def _process(self, messages: list[dict[str, Any]]) -> None:
        records = [sqs_lambda_record(m, self.spec.queue_arn, self.runner.region) for m in messages]
        wanted = [r for r in records if matches_any(list(self.spec.filters), sqs_filter_view(r))]
        dropped = [r for r in records if r not in wanted]
        # Lambda deletes messages that its filter drops
        self._delete_messages(dropped)
        self.stats.filtered += len(dropped)
        if not wanted:
            return
        identifiers = [r["messageId"] for r in wanted]
        try:
            response = self.runner.host.invoke(self.spec.function, {"Records": wanted})
        except FunctionError:
            failed: list[dict[str, Any]] = wanted
        else:
            index = failed_index(response, identifiers, self.spec.report_batch_item_failures)
            if index is None:
                failed = []
            elif index == 0 and not all_identifiers_valid(response, identifiers):
                failed = wanted
            else:
                reported = {f["itemIdentifier"] for f in response["batchItemFailures"]}
                failed = [r for r in wanted if r["messageId"] in reported]
        succeeded = [r for r in wanted if r not in failed]
        self._delete_messages(succeeded)
        self.stats.batches += 1
        self.stats.records += len(succeeded)
        if failed:
            self.stats.failed_invocations += 1
            # failed messages stay in the queue and come back after its visibility timeout; moto moves
            # them to the dead-letter queue on the receive after maxReceiveCount, as SQS does
            self.runner.note_retry(self.spec.logical_id, len(failed), self.visibility_timeout)

    def _delete_messages(self, records: list[dict[str, Any]]) -> None:
        for i in range(0, len(records), 10):
            chunk = records[i : i + 10]
            self.client.delete_message_batch(
                QueueUrl=self.spec.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": r["receiptHandle"]} for n, r in enumerate(chunk)],
            )
