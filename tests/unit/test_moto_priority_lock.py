"""moto's request lock serves the interactive port's requests before waiting batch requests."""

from __future__ import annotations

import threading
import time

from infra.localcloud.moto_patches import _PriorityLock


def test_an_urgent_waiter_goes_before_the_batch_requests_that_waited_longer() -> None:
    # Given a held lock, with five batch requests waiting on it
    lock = _PriorityLock()
    lock.acquire()
    order: list[str] = []

    def take(name: str, urgent: bool) -> None:
        lock.acquire(urgent=urgent)
        order.append(name)
        time.sleep(0.01)
        lock.release()

    batch = [threading.Thread(target=take, args=(f"batch{n}", False)) for n in range(5)]
    for thread in batch:
        thread.start()
    time.sleep(0.1)
    # When an urgent request arrives after them, and the holder lets go
    urgent = threading.Thread(target=take, args=("urgent", True))
    urgent.start()
    time.sleep(0.1)
    lock.release()
    for thread in [*batch, urgent]:
        thread.join(timeout=5)
    # Then the urgent request is served first, and every batch request is still served, one at a time
    assert order[0] == "urgent"
    assert sorted(order[1:]) == [f"batch{n}" for n in range(5)]


def test_the_lock_excludes_while_held() -> None:
    lock = _PriorityLock()
    inside = 0
    most = 0
    guard = threading.Lock()

    def work(urgent: bool) -> None:
        nonlocal inside, most
        for _ in range(50):
            lock.acquire(urgent=urgent)
            with guard:
                inside += 1
                most = max(most, inside)
            with guard:
                inside -= 1
            lock.release()

    threads = [threading.Thread(target=work, args=(n % 2 == 0,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert most == 1
