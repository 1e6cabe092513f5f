"""How far the local cloud is in catching up with its chains: record rate, expected records, durations."""

from __future__ import annotations

import time


class Rate:
    """Records per second over the last half minute of observations: steady enough for an ETA, quick
    to follow the pipeline as it speeds up or slows down."""

    def __init__(self, span_s: float = 30.0) -> None:
        self.span_s = span_s
        self.samples: list[tuple[float, int]] = []

    def observe(self, count: int, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        self.samples.append((now, count))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.span_s:
            self.samples.pop(0)
        (first_time, first_count), (last_time, last_count) = self.samples[0], self.samples[-1]
        if last_time - first_time < 1.0:
            return None
        return (last_count - first_count) / (last_time - first_time)


def expected_records(read: int, ingested_blocks: int, total_blocks: int) -> int:
    """Stream records to expect in all: those read so far, scaled by the share of blocks ingested."""
    if total_blocks <= 0 or ingested_blocks >= total_blocks or ingested_blocks <= 0:
        return read
    return round(read * total_blocks / ingested_blocks)


def duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
