"""The catch-up progress line's arithmetic: records expected while blocks remain, and the rate."""

from __future__ import annotations

from infra.localcloud.main import Rate, expected_records


def test_records_expected_scale_with_the_blocks_still_to_ingest() -> None:
    # Given 4,000 records read after a quarter of the blocks, then the whole chain read
    assert expected_records(4_000, 250, 1_000) == 16_000
    assert expected_records(16_200, 1_000, 1_000) == 16_200
    # and before any block is ingested, or with no chain, only what was read is known
    assert expected_records(300, 0, 1_000) == 300
    assert expected_records(300, 0, 0) == 300


def test_the_rate_follows_the_last_half_minute() -> None:
    rate = Rate(span_s=30)
    assert rate.observe(0, now=0.0) is None
    assert rate.observe(100, now=10.0) == 10.0
    # a faster minute later: the old samples drop out
    for second in range(20, 80, 10):
        rate.observe(100 + (second - 10) * 50, now=float(second))
    assert rate.observe(100 + 70 * 50, now=80.0) == 50.0
