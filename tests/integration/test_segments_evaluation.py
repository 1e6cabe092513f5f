"""A new segment's full evaluation, page by page over every score shard, against the real store (moto): its
progress counts each page once, its members are the wallets the rule matches, and the preview, the member
pages and the CSV export all agree with it."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from shared.events import ChainEvent, Standard, VoteCast
from shared.profiles.model import DAY
from shared.profiles.store import apply_changes
from shared.segments import evaluation, export, preview, store
from shared.segments.rules import parse_rule
from shared.settings import Settings, get_settings

pytestmark = pytest.mark.integration
GOVERNOR = "0x" + "60" * 20
NOW = 20_000 * DAY
WALLETS = 11
# wallet i casts i % 3 + 1 votes: the rule "at least 2 votes" matches the wallets with i % 3 != 0
FREQUENT_VOTERS = {"schema_version": 1, "match": {"type": "field", "field": "votes", "op": "gte", "value": 2}}


def _address(index: int) -> str:
    return f"0x{index + 1:040x}"


def _votes() -> list[tuple[ChainEvent | None, ChainEvent | None]]:
    events: list[tuple[ChainEvent | None, ChainEvent | None]] = []
    for index in range(WALLETS):
        for _ in range(index % 3 + 1):
            block = len(events) + 1
            vote = VoteCast(
                chain_id=31337,
                block_number=block,
                block_hash=f"0x{block:064x}",
                block_time=NOW - 10 * DAY + block,
                tx_hash=f"0x{block:064x}",
                log_index=0,
                contract=GOVERNOR,
                standard=Standard.GOVERNOR,
                voter=_address(index),
                proposal_id=block,
                support=1,
                weight=1,
            )
            events.append((None, vote))
    return events


@pytest.fixture
def settings(deployed: Any, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SEGMENT_EVAL_QUEUE_URL", deployed.physical["SegmentEvalQueue"])
    get_settings.cache_clear()
    found = get_settings()
    apply_changes(_votes(), found)
    return found


def test_a_full_evaluation_pages_through_every_shard_and_agrees_with_preview_pages_and_export(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a segment of frequent voters, evaluated three wallets a page
    monkeypatch.setattr(evaluation, "PAGE_SIZE", 3)
    expected = {_address(i) for i in range(WALLETS) if i % 3 != 0}
    rule = parse_rule(FREQUENT_VOTERS)
    definition = store.create_segment("Frequent voters", rule, settings, "two votes or more")

    # When its evaluation runs to the end, one page after the other
    job: evaluation.EvalJob | None = evaluation.start_evaluation(definition, settings)
    pages = 0
    while job is not None:
        job = evaluation.run_page(job, settings, now=NOW)
        pages += 1

    # Then every wallet was evaluated once, on more pages than one, and the definition is ready
    progress = evaluation.evaluation_progress(definition.segment_id, definition.version, settings)
    assert progress is not None and progress.state == "done"
    assert (progress.evaluated, progress.members, progress.pages) == (WALLETS, len(expected), pages)
    assert pages > 1
    ready = store.get_segment(definition.segment_id, settings)
    assert (ready.status, ready.members) == ("ready", len(expected))
    assert store.with_live_count(ready, settings).members == len(expected)

    # And a page run again (a redelivered message) counts nothing twice
    again = evaluation.run_page(evaluation.EvalJob(segment_id=definition.segment_id, version=1), settings, now=NOW)
    assert again is not None
    assert evaluation.evaluation_progress(definition.segment_id, 1, settings) == progress

    # And the member pages, the preview and the CSV export list exactly the matched wallets
    listed: set[str] = set()
    after: dict[str, Any] | None = None
    while True:
        members, after = store.members_page(definition.segment_id, 2, after, settings)
        listed |= {m["address"] for m in members}
        if after is None:
            break
    assert listed == expected
    previewed = preview.preview(rule, 50, settings)
    assert (previewed.count, previewed.evaluated, previewed.complete) == (len(expected), WALLETS, True)
    assert set(previewed.sample) == expected
    text, _ = export.members_csv(definition.segment_id, 100, None, settings)
    assert {row["address"] for row in csv.DictReader(io.StringIO(text))} == expected
    assert store.is_member(definition.segment_id, min(expected), settings) is not None
    assert store.is_member(definition.segment_id, _address(0), settings) is None

    # And deleting the segment removes its members with it
    assert store.delete_segment(definition.segment_id, settings) == len(expected)
    assert store.list_segments(settings) == []
