"""Reorgs made by anvil_reorg: afterwards the Events table equals a clean ingest of the final chain."""

from __future__ import annotations

import pytest

from shared.chain.reorg import CursorStore
from shared.ingest import IngestError, ingest_all, ingest_chain
from tests.support.ingest_chain import A, B, C, a, chain_config, emit_everything, fast_options, item_set, rpc
from tests.support.ingest_chain import settings_for as make_settings
from tests.support.ingest_fixtures import clean_event_items, history_chain  # noqa: F401

pytestmark = pytest.mark.integration
WINDOW = 8


@pytest.mark.parametrize("depth", [1, 3, WINDOW - 1])
def test_reorg_is_rolled_back_and_reingested(history_chain, deployed, moto_endpoint, template, depth) -> None:  # noqa: F811
    # Given a fully ingested chain
    chain, f = history_chain
    emit_everything(f)
    for i in range(3):  # the newest blocks hold events, so the reorg orphans some
        f.send("erc20", "emitTransfer", a(A), a(B), 2**201 + i)
    config = chain_config(chain.url, f, reorg_window=WINDOW)
    settings = make_settings(deployed.events_table, deployed.app_table, config)
    ingest_chain(config, settings, fast_options())
    before = item_set(deployed.events_table)

    # When the newest `depth` blocks are replaced by blocks with different transactions
    replacements = [
        [f.tx("erc20", "emitTransfer", a(B), a(C), 1000 + depth), 0],
        [f.tx("erc1155", "emitBatch", a(A), a(C), [9, 8], [2**230, 4]), depth - 1],
    ]
    rpc(chain.url, "anvil_reorg", [depth, replacements])
    f.send("erc721", "emitTransfer", a(B), a(C), 1)  # and the chain moves on
    summary = ingest_chain(config, settings, fast_options())

    # Then the orphaned events were deleted and the new ones written: same as a clean run
    assert summary.reorgs == 1
    assert summary.orphaned_events >= 1
    after = item_set(deployed.events_table)
    assert after != before
    assert after == clean_event_items(moto_endpoint, template, config)
    cursor = CursorStore(deployed.app_table, 31337).load()
    assert cursor.last_block == summary.head and not cursor.pending


def test_reorg_deeper_than_window_is_an_alarm_not_a_skip(history_chain, deployed) -> None:  # noqa: F811
    chain, f = history_chain
    emit_everything(f)
    config = chain_config(chain.url, f, reorg_window=WINDOW)
    settings = make_settings(deployed.events_table, deployed.app_table, config)
    first = ingest_chain(config, settings, fast_options())
    before = item_set(deployed.events_table)

    rpc(chain.url, "anvil_reorg", [WINDOW + 2, [[f.tx("erc20", "emitTransfer", a(B), a(C), 5), 0]]])
    f.send("erc20", "emitTransfer", a(A), a(C), 6)
    with pytest.raises(IngestError) as raised:
        ingest_all(settings, options=fast_options())

    (outcome,) = raised.value.summary.chains
    assert outcome.reorg_too_deep == 1 and outcome.stopped == "reorg_too_deep"
    assert "reorg deeper than the kept window" in str(raised.value)
    # nothing was skipped or rewritten: the cursor and the events stay put for an operator
    assert CursorStore(deployed.app_table, 31337).load().last_block == first.cursor
    assert item_set(deployed.events_table) == before
