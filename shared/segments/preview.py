"""A rule's audience before it is saved: the count and a sample, without writing anything.

Every wallet is derived as the segments function would derive it (same facts, same labels), page
by page through the score shards, within a time budget so an API call always answers. When the
budget runs out first, the answer says so and extrapolates from the wallets it saw.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel, Field

from shared import intel
from shared.segments import wallets
from shared.segments.evaluate import matches
from shared.segments.rules import SegmentRule
from shared.settings import Settings
from shared.store import keys
from shared.store.paging import count

PAGE = 100
THREADS = 8


class Preview(BaseModel):
    count: int = Field(description="members among the wallets evaluated")
    evaluated: int
    wallets: int = Field(description="wallets Kith knows")
    complete: bool = Field(description="false when the time budget ended first; `estimated_count` extrapolates")
    estimated_count: int
    sample: list[str] = Field(description="addresses of some members")


def preview(rule: SegmentRule, sample_size: int, settings: Settings, budget_s: float = 20.0) -> Preview:
    deadline = time.monotonic() + budget_s
    context = wallets.load_context(settings)
    now = int(time.time())
    total = sum(_shard_size(shard, settings) for shard in range(keys.SCORE_SHARDS))
    count = evaluated = 0
    sample: list[str] = []
    complete = True

    def member(address: str) -> bool:
        inputs = intel.load_wallet(address, settings)
        return inputs is not None and matches(rule, wallets.derive(inputs, context, now).facts)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for shard in range(keys.SCORE_SHARDS):
            start: dict[str, Any] | None = None
            while True:
                if time.monotonic() > deadline:
                    complete = False
                    break
                addresses, start = wallets.shard_page(shard, PAGE, start, settings, highest_first=True)
                for address, is_member in zip(addresses, pool.map(member, addresses), strict=True):
                    evaluated += 1
                    if is_member:
                        count += 1
                        if len(sample) < sample_size:
                            sample.append(address)
                if start is None:
                    break
            if not complete:
                break
    estimate = count if complete or evaluated == 0 else round(count * total / evaluated)
    return Preview(
        count=count, evaluated=evaluated, wallets=total, complete=complete, estimated_count=estimate, sample=sample
    )


def _shard_size(shard: int, settings: Settings) -> int:
    return count(
        settings.app_table,
        IndexName=keys.GSI1,
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.score_partition(shard)}},
    )
