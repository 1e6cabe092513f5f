"""Adaptive eth_getLogs block ranges: shrink fast when the node refuses, grow slowly when it copes.

Halving on refusal and growing by a quarter on success converges near the provider's limit within
a few calls and stays there; a provider's explicit hint ("this block range should work: [a, b]")
jumps straight to a size it accepts. The node's limit is not the only one: a range is also cut at the
block where its logs pass what the run can write in its time (last_block_within).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.chain.rpc import RpcClient, RpcError, RpcFailed


@dataclass
class AdaptiveRange:
    size: int
    max_size: int
    growth: float = 1.25

    def __post_init__(self) -> None:
        self.size = max(1, min(self.size, self.max_size))

    def shrink(self, from_block: int, to_block: int, hint: tuple[int, int] | None) -> None:
        span = to_block - from_block + 1
        if hint is not None and hint[0] <= from_block <= hint[1]:
            suggested = hint[1] - from_block + 1
            if 1 <= suggested < span:
                self.size = suggested
                return
        if hint is not None and hint[1] >= hint[0]:
            suggested = hint[1] - hint[0] + 1
            if 1 <= suggested < span:
                self.size = suggested
                return
        self.size = max(1, span // 2)

    def grow(self) -> None:
        self.size = min(self.max_size, max(self.size + 1, int(self.size * self.growth)))


def last_block_within(from_block: int, to_block: int, log_blocks: Iterable[int], budget: int) -> int:
    """The last block b of [from_block, to_block] whose logs from from_block on number at most `budget`.

    A block is never split (its logs are written and checkpointed together), so the first block is kept
    whatever its count."""
    per_block = Counter(log_blocks)
    total = 0
    for number in range(from_block, to_block + 1):
        total += per_block.get(number, 0)
        if total > budget:
            return max(from_block, number - 1)
    return to_block


def get_logs_adaptive(
    rpc: RpcClient,
    from_block: int,
    last_allowed: int,
    addresses: Sequence[str],
    topics: Sequence[Any],
    ranger: AdaptiveRange,
) -> tuple[list[Any], int]:
    """Logs of [from_block, to] for the largest `to <= last_allowed` the node accepts; returns (logs, to).

    A refusal of a single block cannot be halved, so it counts as a failed attempt with backoff and,
    after the policy's attempts, raises RpcFailed rather than skipping the block.
    """
    failures = 0
    while True:
        to_block = min(from_block + ranger.size - 1, last_allowed)
        try:
            logs = rpc.get_logs(from_block, to_block, addresses, topics)
        except RpcError as exc:
            rpc.note_retry("eth_getLogs", str(exc))
            if to_block > from_block:
                ranger.shrink(from_block, to_block, exc.hint)
                continue
            failures += 1
            if failures >= rpc.policy.max_attempts:
                raise RpcFailed(
                    f"chain {rpc.chain_id}: eth_getLogs failed after {failures} attempts: "
                    f"block {from_block} alone is refused: {exc}"
                ) from exc
            rpc.policy.backoff.pause(failures)
            continue
        ranger.grow()
        return logs, to_block
