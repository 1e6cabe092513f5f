"""Two runs at once on one chain: no gap, no overlap, every event once."""

from __future__ import annotations

import threading

import pytest

from shared.chain.reorg import CursorStore
from shared.ingest import ChainSummary, ingest_chain
from tests.support.ingest_chain import chain_config, emit_everything, fast_options, item_set, settings_for
from tests.support.ingest_fixtures import clean_event_items, history_chain  # noqa: F401

pytestmark = pytest.mark.integration


def test_two_concurrent_runs(history_chain, deployed, moto_endpoint, template) -> None:  # noqa: F811
    chain, f = history_chain
    emit_everything(f)
    f.mine(40)
    config = chain_config(chain.url, f, initial_range=3, max_range=4)
    settings = settings_for(deployed.events_table, deployed.app_table, config)
    results: list[ChainSummary] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait()
            results.append(ingest_chain(config, settings, fast_options()))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    # a run that lost a race stopped quietly; one more run finishes whatever is left
    final = ingest_chain(config, settings, fast_options())

    cursor = CursorStore(deployed.app_table, 31337).load()
    assert cursor.last_block == final.head
    blocks_done = sum(r.blocks for r in results) + final.blocks
    assert blocks_done == final.head + 1  # every block was committed by exactly one run: no gap, no overlap
    assert item_set(deployed.events_table) == clean_event_items(moto_endpoint, template, config)
    numbers = [n for n, _ in cursor.window]
    assert numbers == list(range(numbers[0], numbers[-1] + 1))
