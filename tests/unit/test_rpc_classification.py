"""Retry classification, range hints, adaptive ranges and bloom checks (pure)."""

from __future__ import annotations

import itertools

import pytest

from shared.chain import abi
from shared.chain.bloom import BloomFilter, bloom_bits, hex_item
from shared.chain.ranges import AdaptiveRange
from shared.chain.rpc import RetryPolicy, Verdict, classify_error, classify_http, parse_range_hint


@pytest.mark.parametrize(
    "message",
    [
        "query returned more than 10000 results",
        "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range",
        "block range is too wide",
        "eth_getLogs block range too large, range: 10001, max: 10000",
        "exceed maximum block range: 5000",
        "limit exceeded",
        "query returned more than 10000 results. Try with this block range [0x1, 0x2c].",
        "Query timeout exceeded. Consider reducing your block range.",
    ],
)
def test_range_errors(message: str) -> None:
    assert classify_error(-32005, message) is Verdict.RANGE
    assert classify_error(-32602, message) is Verdict.RANGE


@pytest.mark.parametrize(
    ("code", "message", "verdict"),
    [
        (-32603, "internal error", Verdict.RETRY),
        (-32000, "header not found", Verdict.RETRY),
        (-32099, "whatever", Verdict.RETRY),
        (-32001, "resource not found", Verdict.RETRY),
        (429, "Too Many Requests", Verdict.RETRY),
        (None, "rate limit reached", Verdict.RETRY),
        (-32602, "invalid argument 0: hex string without 0x prefix", Verdict.FATAL),
        (-32601, "the method eth_foo does not exist", Verdict.FATAL),
        (-32100, "something odd", Verdict.FATAL),
    ],
)
def test_retry_classification(code: int | None, message: str, verdict: Verdict) -> None:
    assert classify_error(code, message) is verdict


def test_http_classification() -> None:
    assert classify_http(429) is Verdict.RETRY
    assert classify_http(503) is Verdict.RETRY
    assert classify_http(401) is Verdict.FATAL


@pytest.mark.parametrize(
    ("message", "hint"),
    [
        ("this block range should work: [0x10, 0x1f]", (16, 31)),
        ("query returned more than 10000 results. Try with this block range [0x1, 0x2c].", (1, 44)),
        ("try with this block range [100, 200]", (100, 200)),
        ("no hint here", None),
        ("backwards [0x20, 0x10]", None),
    ],
)
def test_range_hints(message: str, hint: tuple[int, int] | None) -> None:
    assert parse_range_hint(message) == hint


def test_adaptive_range_halves_follows_hints_and_grows_slowly() -> None:
    ranger = AdaptiveRange(size=1000, max_size=2000)
    ranger.shrink(100, 1099, None)
    assert ranger.size == 500
    ranger.shrink(100, 599, (100, 149))
    assert ranger.size == 50
    ranger.shrink(100, 149, (7, 9))  # a hint for another start still gives a size
    assert ranger.size == 3
    ranger.shrink(100, 100, None)
    assert ranger.size == 1
    sizes = []
    for _ in range(40):
        ranger.grow()
        sizes.append(ranger.size)
    assert sizes[:4] == [2, 3, 4, 5]
    assert all(b <= max(a + 1, int(a * 1.25)) for a, b in itertools.pairwise(sizes))
    assert sizes[-1] == 2000


def test_backoff_has_jitter_and_a_cap() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    delays = {round(policy.delay(2), 6) for _ in range(20)}
    assert len(delays) > 1 and all(0.2 <= d <= 0.6 for d in delays)
    assert all(policy.delay(30) <= 1.5 for _ in range(20))


def test_bloom_filter() -> None:
    address = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
    bloom_value = bloom_bits(hex_item(address)) | bloom_bits(hex_item(abi.TRANSFER))
    bloom = "0x" + f"{bloom_value:0512x}"
    assert BloomFilter([address], [abi.TRANSFER]).may_contain(bloom)
    assert not BloomFilter([address], [abi.VOTE_CAST]).may_contain(bloom)
    assert not BloomFilter(["0x" + "11" * 20], [abi.TRANSFER]).may_contain(bloom)
    assert not BloomFilter([address], [abi.TRANSFER]).may_contain("0x" + "0" * 512)


def test_gc_pause_nests_across_threads_and_restores_the_collector() -> None:
    import gc
    import threading

    from shared.chain.rpc import gc_paused

    assert gc.isenabled()
    inside = threading.Event()
    release = threading.Event()

    def other() -> None:
        with gc_paused():
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=other)
    with gc_paused():
        assert not gc.isenabled()
        worker.start()
        inside.wait(5)
    assert not gc.isenabled()  # the other thread's pause still holds
    release.set()
    worker.join(5)
    assert gc.isenabled() and gc.get_freeze_count() == 0

    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a collector that was off stays off
    finally:
        gc.enable()


def test_a_range_is_cut_at_the_last_block_whose_logs_fit_the_budget() -> None:
    from shared.chain.ranges import last_block_within

    # Given logs in blocks 10, 10, 11, 13, 13, 13 of the range 10..15
    blocks = [10, 10, 11, 13, 13, 13]
    # Then a budget keeps whole blocks only, from the first on
    assert last_block_within(10, 15, blocks, 6) == 15
    assert last_block_within(10, 15, blocks, 5) == 12
    assert last_block_within(10, 15, blocks, 3) == 12
    assert last_block_within(10, 15, blocks, 2) == 10
    # and never cuts before the first block, however many logs it holds
    assert last_block_within(10, 15, blocks, 1) == 10
    assert last_block_within(10, 15, [], 0) == 15
