"""History replay against the real store and queue (moto's server): wallets changed by old events wait, marked,
and are evaluated once when the replay goes quiet; wallets changed in the present are evaluated at once; a
replay that resumes during a drain loses no mark."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared.events import ChainEvent, Standard, VoteCast
from shared.profiles.model import DAY
from shared.profiles.store import apply_changes
from shared.segments import replay, store
from shared.segments.replay import ReplayDrainJob, WalletChange
from shared.segments.rules import parse_rule
from shared.settings import Settings, get_settings
from shared.store import dynamo, keys
from shared.store.paging import query_items

pytestmark = pytest.mark.integration
GOVERNOR = "0x" + "60" * 20
VOTERS = {"schema_version": 1, "match": {"type": "field", "field": "votes", "op": "gte", "value": 1}}
OLD_WALLETS = [f"0x{i:040x}" for i in range(1, 8)]
RECENT_WALLET = f"0x{99:040x}"


def _vote(voter: str, block: int, block_time: int) -> ChainEvent:
    return VoteCast(
        chain_id=31337,
        block_number=block,
        block_hash=f"0x{block:064x}",
        block_time=block_time,
        tx_hash=f"0x{block:064x}",
        log_index=0,
        contract=GOVERNOR,
        standard=Standard.GOVERNOR,
        voter=voter,
        proposal_id=block,
        support=1,
        weight=1,
    )


@pytest.fixture
def settings(deployed: Any, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SEGMENT_EVAL_QUEUE_URL", deployed.physical["SegmentEvalQueue"])
    monkeypatch.setenv("KITH_SEGMENTS", '{"replay_quiet_s": 30, "history_horizon_s": 3600}')
    get_settings.cache_clear()
    found = get_settings()
    now = int(time.time())
    # seven wallets voted weeks ago (a catch-up replays them); one voted a minute ago (live)
    votes = [(None, _vote(w, i + 1, now - 30 * DAY + i)) for i, w in enumerate(OLD_WALLETS)]
    votes.append((None, _vote(RECENT_WALLET, 100, now - 60)))
    apply_changes(votes, found)
    store.create_segment("Voters", parse_rule(VOTERS), found)
    return found


def _marks(settings: Settings) -> dict[str, int]:
    found: dict[str, int] = {}
    for shard in range(keys.REPLAY_SHARDS):
        for item in query_items(
            settings.app_table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": keys.replay_partition(shard)}},
            ConsistentRead=True,
        ):
            found[item["sk"]] = int(item["generation"])
    return found


def _queue_counts(settings: Settings) -> tuple[int, int]:
    attributes = dynamo.client("sqs").get_queue_attributes(
        QueueUrl=settings.segment_eval_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesDelayed"])


def _run_queued_drains(settings: Settings, now: int) -> int:
    """Every drain page a message carries, page after page (the messages a page enqueues come next)."""
    sqs = dynamo.client("sqs")
    evaluated = 0
    while True:
        messages = sqs.receive_message(QueueUrl=settings.segment_eval_queue_url, MaxNumberOfMessages=1).get(
            "Messages", []
        )
        if not messages:
            return evaluated
        message = messages[0]
        job = replay.parse_drain_job(message["Body"])
        assert job is not None
        evaluated += replay.run_drain(job, settings, now)
        sqs.delete_message(QueueUrl=settings.segment_eval_queue_url, ReceiptHandle=message["ReceiptHandle"])


def _members(settings: Settings) -> set[str]:
    segment = next(iter(store.list_segments(settings)))
    return {
        keys.member_of(item["sk"])
        for item in query_items(
            settings.app_table,
            KeyConditionExpression="pk = :p AND begins_with(sk, :m)",
            ExpressionAttributeValues={
                ":p": {"S": keys.segment_pk(segment.segment_id)},
                ":m": {"S": keys.MEMBER_PREFIX},
            },
            ConsistentRead=True,
        )
    }


def test_old_changes_wait_while_present_changes_are_evaluated_at_once(settings: Settings) -> None:
    now = int(time.time())
    tagged = OLD_WALLETS[0]
    changes = [WalletChange(w, "profile") for w in OLD_WALLETS]
    changes += [WalletChange(RECENT_WALLET, "profile"), WalletChange(tagged, "tag")]

    routed = replay.route(changes, now, settings)

    # a wallet whose newest event is weeks old waits; a fresh event or an operator's tag is the present
    assert routed.live == [tagged, RECENT_WALLET]
    assert routed.replayed == OLD_WALLETS[1:]


def test_replayed_wallets_are_marked_once_and_evaluated_once_the_replay_is_quiet(settings: Settings) -> None:
    now = int(time.time())
    replayed = OLD_WALLETS

    # When two batches of a replay touch the same wallets
    written = replay.defer(replayed, now, settings)
    again = replay.defer(replayed, now + 1, settings)

    # Then each wallet is marked once, and one drain waits on the queue, delayed
    assert written == len(replayed) and again == 0
    assert _marks(settings) == dict.fromkeys(replayed, 0)
    assert _queue_counts(settings) == (0, 1)
    assert _members(settings) == set()

    # When a drain runs before the replay has been quiet long enough, it only waits again
    assert replay.run_drain(ReplayDrainJob(), settings, now + 10) == 0
    assert set(_marks(settings)) == set(replayed)

    # When the replay has been quiet for replay_quiet_s, the drain evaluates every marked wallet once
    quiet = now + 1 + settings.segments.replay_quiet_s
    evaluated = replay.run_drain(ReplayDrainJob(), settings, quiet) + _run_queued_drains(settings, quiet)

    # Then they are members, no mark is left, and no drain is scheduled any more
    assert _members(settings) == set(replayed)
    assert _marks(settings) == {}
    state = replay.replay_state(settings)
    assert state is not None and not state.drain_scheduled and state.generation == 1
    assert evaluated == len(replayed)


def test_a_replay_that_resumes_during_a_drain_keeps_its_marks_and_schedules_the_next_drain(
    settings: Settings,
) -> None:
    now = int(time.time())
    first, later = OLD_WALLETS[:4], OLD_WALLETS[4:]
    replay.defer(first, now, settings)
    quiet = now + settings.segments.replay_quiet_s

    # Given a drain that has moved to the next generation
    started = replay._start(settings, quiet)
    assert started is not None and started.generation == 1

    # When history arrives again before the drain ends (the container's memory is of the old generation)
    replay.defer([*later, first[0]], quiet + 1, settings)

    # Then the new marks carry the new generation, which this drain leaves alone
    marks = _marks(settings)
    assert {w: marks[w] for w in later} == dict.fromkeys(later, 1)
    assert marks[first[0]] == 1

    # When the drain runs its pages to the end
    job: ReplayDrainJob | None = started
    while job is not None:
        replay.run_drain(job, settings, quiet + 2)
        job = _next_page_job(settings)

    # Then the wallets marked before it are evaluated, the re-marked and new ones are still pending,
    # and a drain stays scheduled for the next quiet spell
    assert set(_members(settings)) >= set(first[1:])
    assert set(_marks(settings)) == {*later, first[0]}
    state = replay.replay_state(settings)
    assert state is not None and state.drain_scheduled

    # When that next drain runs after the quiet spell, nothing is left pending
    settled = quiet + 1 + settings.segments.replay_quiet_s
    dynamo.client("sqs").purge_queue(QueueUrl=settings.segment_eval_queue_url)
    replay.run_drain(ReplayDrainJob(), settings, settled)
    _run_queued_drains(settings, settled)
    assert _marks(settings) == {}
    assert _members(settings) == set(OLD_WALLETS)


def _next_page_job(settings: Settings) -> ReplayDrainJob | None:
    """The next page this drain enqueued (delayed messages of a later drain are not visible yet)."""
    sqs = dynamo.client("sqs")
    messages = sqs.receive_message(QueueUrl=settings.segment_eval_queue_url, MaxNumberOfMessages=1).get("Messages", [])
    if not messages:
        return None
    sqs.delete_message(QueueUrl=settings.segment_eval_queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
    return replay.parse_drain_job(messages[0]["Body"])


def test_a_segment_evaluation_message_is_not_a_drain_job() -> None:
    assert replay.parse_drain_job('{"segment_id": "abc", "version": 1}') is None
    job = replay.parse_drain_job(ReplayDrainJob(shard=2).model_dump_json())
    assert job is not None and job.shard == 2
