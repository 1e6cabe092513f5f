"""A thread-safe token bucket per channel, shared by every thread of one sender instance.

The bucket lives in the process, so N concurrent sender instances send N times its rate: the
configured rate is the sender's total and ChannelsConfig.instance_rate divides it by
sender_concurrency (set that to the sender's reserved concurrency, or the SQS event source's
MaximumConcurrency).

acquire() reserves a token and sleeps until it is due, so waiting callers are served in order and
the long-run rate never exceeds `rate`, however many threads call. A caller that would have to wait
longer than `timeout` gets False at once and takes nothing, so the message goes back to the queue
instead of holding a Lambda while it waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from shared.channels.base import Channel


class TokenBucket:
    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    def acquire(self, timeout: float = 5.0) -> bool:
        """Take one token, sleeping until it is due; False (taking nothing) if that is more than `timeout` away."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            wait = max(0.0, (1.0 - self._tokens) / self.rate)
            if wait > timeout:
                return False
            # The balance may go negative: later callers then see a longer wait, which keeps them in order.
            self._tokens -= 1.0
        if wait > 0:
            self._sleep(wait)
        return True

    def wait_time(self) -> float:
        """Seconds until a token would be free, if one were asked for now."""
        with self._lock:
            tokens = min(float(self.burst), self._tokens + (self._clock() - self._updated) * self.rate)
            return max(0.0, (1.0 - tokens) / self.rate)


class Limiters:
    """One bucket per channel, rebuilt when that channel's rate or burst changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[Channel, TokenBucket] = {}

    def get(self, channel: Channel, rate: float, burst: int) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.get(channel)
            if bucket is None or bucket.rate != rate or bucket.burst != burst:
                bucket = self._buckets[channel] = TokenBucket(rate, burst)
            return bucket

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


LIMITERS = Limiters()
