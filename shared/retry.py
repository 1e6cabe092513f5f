"""One retry policy for every outbound call: JSON-RPC, AWS and the delivery channels.

Each caller decides what is worth retrying (a JSON-RPC rate limit, DynamoDB's unprocessed items, a
channel's 429); how long to wait between attempts is decided here, once: exponential steps with
jitter around each step, so clients retrying at once do not synchronise, capped so a long outage
still ends in a loud failure rather than a silent wait. A failure may name its own least wait (a
provider's Retry-After), and a policy may bound the whole call in time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
E = TypeVar("E")


class RetriesExhausted(RuntimeError):
    """Every attempt failed; the message names what was tried and how often."""


class RetryAfterHint(Exception):
    """A failure that may say how long to wait before the next attempt (`retry_after`, seconds).

    The hint is a floor on the wait: a provider that asked for it answers anything sooner with
    another refusal.
    """

    retry_after: float | None = None


@dataclass(frozen=True)
class Backoff:
    """How often to try, and how long to wait before attempt n+1 after attempt n failed.

    The wait is the step (base_delay doubled per attempt, capped at max_delay) times a factor drawn
    from `jitter`: (0.5, 1.5) spreads waits around the step, (0.5, 1.0) keeps them under it, so the
    cap holds. With `max_total_s`, an attempt starts only if it can finish within that many seconds
    of the first one.
    """

    attempts: int = 8
    base_delay: float = 0.05
    max_delay: float = 2.0
    jitter: tuple[float, float] = (0.5, 1.5)
    max_total_s: float | None = None

    def delay(self, attempt: int, at_least: float | None = None) -> float:
        low, high = self.jitter
        wait = min(self.max_delay, self.base_delay * 2**attempt) * random.uniform(low, high)
        return wait if at_least is None else max(wait, at_least)

    def pause(self, attempt: int, sleep: Callable[[float], None] = time.sleep) -> None:
        sleep(self.delay(attempt))

    def fits(self, spent: float, wait: float, attempt_takes_s: float) -> bool:
        """Whether one more attempt, after `wait`, can finish within the budget."""
        return self.max_total_s is None or spent + wait + attempt_takes_s <= self.max_total_s


# A store write that lost a race or was throttled: retried quickly, a few seconds in all.
STORE = Backoff(attempts=8, base_delay=0.05, max_delay=2.0)
# A provider (RPC node, channel API) that is overloaded or briefly down: seconds between tries.
PROVIDER = Backoff(attempts=8, base_delay=0.2, max_delay=8.0)


def call_with_retry(
    attempt: Callable[[], T],
    *,
    retryable: Callable[[Exception], bool],
    backoff: Backoff = PROVIDER,
    on_retry: Callable[[int, Exception], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    attempt_takes_s: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run `attempt` until it returns, retrying the exceptions `retryable` accepts; the last one is raised.

    A RetryAfterHint's `retry_after` is the least wait before the next attempt. `attempt_takes_s` is
    the longest one attempt may take (its timeout), so a retry that could not finish within the
    backoff's `max_total_s` is not started: the failure is raised at once instead.
    """
    started = clock()
    for number in range(backoff.attempts):
        try:
            return attempt()
        except Exception as exc:
            if not retryable(exc) or number == backoff.attempts - 1:
                raise
            wait = backoff.delay(number, exc.retry_after if isinstance(exc, RetryAfterHint) else None)
            if not backoff.fits(clock() - started, wait, attempt_takes_s):
                raise
            if on_retry is not None:
                on_retry(number, exc)
            sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


def drain(
    pending: T,
    send: Callable[[T], T],
    *,
    done: Callable[[T], bool],
    what: str,
    backoff: Backoff = STORE,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Send `pending`, then what `send` hands back as left over, until `done` says nothing is left.

    The shape of DynamoDB's UnprocessedItems/UnprocessedKeys and SQS's Failed entries: a partial
    success to finish, not an exception to catch. Raises RetriesExhausted naming `what`.
    """
    for number in range(backoff.attempts):
        pending = send(pending)
        if done(pending):
            return
        if number < backoff.attempts - 1:
            backoff.pause(number, sleep)
    raise RetriesExhausted(f"{what}: still not done after {backoff.attempts} attempts")


def drain_batches(
    entries: Sequence[E],
    limit: int,
    send: Callable[[list[E]], list[E]],
    *,
    what: str,
    backoff: Backoff = STORE,
) -> int:
    """`drain` each run of `limit` entries in turn (SQS and EventBridge take ten at a time); returns the
    requests made."""
    made = 0

    def counted(batch: list[E]) -> list[E]:
        nonlocal made
        made += 1
        return send(batch)

    for start in range(0, len(entries), limit):
        drain(list(entries[start : start + limit]), counted, done=lambda left: not left, what=what, backoff=backoff)
    return made
