"""The token bucket: burst, refill, bounded waits and thread safety, on a fake clock (pure)."""

from __future__ import annotations

import threading

import pytest

from shared.channels.base import Channel
from shared.channels.config import ChannelsConfig
from shared.channels.ratelimit import Limiters, TokenBucket


class FakeClock:
    """Time that moves only when someone sleeps, so waits are exact and nothing really waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)


def test_a_full_bucket_serves_its_burst_without_waiting() -> None:
    # Given a bucket of 3 at 1 per second
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=3, clock=clock, sleep=clock.sleep)
    # When 3 tokens are taken at once, Then nobody waits
    assert all(bucket.acquire() for _ in range(3))
    assert clock.sleeps == []
    # And the 4th waits exactly one token's worth
    assert bucket.acquire()
    assert clock.sleeps == [pytest.approx(1.0)]


def test_tokens_refill_with_time_up_to_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=2, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.acquire()
    # Given an hour passes, When 3 are taken, Then the bucket held only its burst of 2
    clock.now += 3600
    for _ in range(3):
        bucket.acquire()
    assert clock.sleeps == [pytest.approx(0.5)]


def test_waiting_callers_queue_up_in_order() -> None:
    # Given an empty bucket
    clock = FakeClock()
    bucket = TokenBucket(rate=4.0, burst=1, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    # When three more callers arrive at the same instant
    for _ in range(3):
        bucket.acquire()
    # Then each waits one more interval than the previous: the rate holds
    assert clock.sleeps == [pytest.approx(0.25), pytest.approx(0.5), pytest.approx(0.75)]


def test_a_wait_longer_than_the_timeout_takes_nothing() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=1, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    # When the next token is 1 s away and the caller accepts 0.5 s
    assert bucket.acquire(timeout=0.5) is False
    # Then it did not sleep, and did not push later callers back
    assert clock.sleeps == []
    assert bucket.wait_time() == pytest.approx(1.0)
    assert bucket.acquire(timeout=1.0)
    assert clock.sleeps == [pytest.approx(1.0)]


def test_concurrent_callers_never_exceed_the_rate() -> None:
    # Given 8 threads taking 25 tokens each from a bucket of burst 10 at 100/s, on a frozen clock
    clock = FakeClock()
    bucket = TokenBucket(rate=100.0, burst=10, clock=clock, sleep=clock.sleep)
    barrier = threading.Barrier(8)

    def take() -> None:
        barrier.wait()
        for _ in range(25):
            assert bucket.acquire(timeout=10.0)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then 10 went straight through and the other 190 were spaced exactly 1/100 s apart, whatever the interleaving
    assert len(clock.sleeps) == 190
    assert sorted(clock.sleeps) == pytest.approx([k / 100 for k in range(1, 191)])


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, burst=0)


def test_the_configured_rate_is_shared_among_sender_instances() -> None:
    # Given 40/s with a burst of 20 for Telegram, and 4 sender instances
    config = ChannelsConfig.model_validate(
        {"telegram": {"rate_limit": {"per_second": 40, "burst": 20}}, "sender_concurrency": 4}
    )
    # Then each instance's bucket allows a quarter
    assert config.instance_rate(Channel.TELEGRAM) == (10.0, 5)


def test_limiters_keep_one_bucket_per_channel_until_its_settings_change() -> None:
    limiters = Limiters()
    first = limiters.get(Channel.WEBHOOK, 10.0, 5)
    assert limiters.get(Channel.WEBHOOK, 10.0, 5) is first
    assert limiters.get(Channel.EMAIL, 10.0, 5) is not first
    assert limiters.get(Channel.WEBHOOK, 20.0, 5) is not first
