"""A run killed at any point leaves a state the next run completes into a clean run's state."""

from __future__ import annotations

import pytest

from shared.chain.reorg import CursorStore
from shared.ingest import CRASH_POINTS, InjectedCrash, ingest_chain
from tests.support.ingest_chain import C, a, chain_config, emit_everything, fast_options, item_set, rpc, settings_for
from tests.support.ingest_fixtures import clean_event_items, history_chain  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_crash_then_rerun_equals_clean_run(history_chain, deployed, moto_endpoint, template, point) -> None:  # noqa: F811
    # Given a chain, and a first run that dies at `point` in its second range
    chain, f = history_chain
    emit_everything(f)
    config = chain_config(chain.url, f, initial_range=10, max_range=10)
    settings = settings_for(deployed.events_table, deployed.app_table, config)
    ingest_chain(config, settings, fast_options(max_ranges=1))
    with pytest.raises(InjectedCrash):
        ingest_chain(config, settings, fast_options(crash_points=frozenset({point})))
    crashed_cursor = CursorStore(deployed.app_table, 31337).load().last_block

    # When the next run goes
    summary = ingest_chain(config, settings, fast_options())

    # Then the cursor moved on from where the crash left it and the events equal a clean run's
    assert crashed_cursor == 9
    assert summary.cursor == summary.head
    assert item_set(deployed.events_table) == clean_event_items(moto_endpoint, template, config)
    assert not CursorStore(deployed.app_table, 31337).load().pending


def test_crash_before_cursor_then_reorg_of_the_written_range(history_chain, deployed, moto_endpoint, template) -> None:  # noqa: F811
    # Given a run that wrote a whole range of events but died before moving the cursor
    chain, f = history_chain
    emit_everything(f)
    config = chain_config(chain.url, f, initial_range=500, max_range=500)
    settings = settings_for(deployed.events_table, deployed.app_table, config)
    with pytest.raises(InjectedCrash):
        ingest_chain(config, settings, fast_options(crash_points=frozenset({"before_cursor"})))
    assert CursorStore(deployed.app_table, 31337).load().pending

    # When the chain reorgs inside that range (the cursor's window knows nothing about it)
    rpc(chain.url, "anvil_reorg", [3, [[f.tx("erc20", "emitTransfer", a(C), a(C), 31337), 1]]])
    summary = ingest_chain(config, settings, fast_options())

    # Then the orphaned events are found through the pending marker and removed
    assert summary.orphaned_events >= 1
    assert item_set(deployed.events_table) == clean_event_items(moto_endpoint, template, config)
