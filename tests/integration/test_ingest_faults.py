"""Ingestion through a misbehaving RPC (a real HTTP proxy in front of anvil) still ends exactly right."""

from __future__ import annotations

import pytest

from shared.chain.rpc import RetryPolicy
from shared.ingest import IngestError, ingest_all, ingest_chain
from tests.support.ingest_chain import chain_config, emit_everything, fast_options, item_set, settings_for
from tests.support.ingest_fixtures import clean_event_items, history_chain  # noqa: F401
from tests.support.rpc_fault_proxy import FaultProxy

pytestmark = pytest.mark.integration

SCHEDULE = ["ok", "429", "ok", "null", "truncate", "ok", "internal", "ok", "reset", "ok", "timeout", "ok", "ok"]
LOGS_SCHEDULE = ["cap", "ok", "hint", "ok", "empty", "null", "ok", "timeout", "ok", "ok", "429", "ok"]


def test_faulty_rpc_gives_the_same_events_as_a_clean_run(history_chain, deployed, moto_endpoint, template) -> None:  # noqa: F811
    # Given a chain behind a proxy that injects every fault kind on a fixed schedule
    chain, f = history_chain
    emit_everything(f)
    direct = chain_config(chain.url, f, initial_range=40, max_range=40)
    with FaultProxy(chain.url, SCHEDULE, timeout_sleep=0.8, logs_schedule=LOGS_SCHEDULE) as proxy:
        config = direct.model_copy(update={"rpc_url": proxy.url})
        settings = settings_for(deployed.events_table, deployed.app_table, config)
        options = fast_options(rpc=RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05, timeout=0.5))

        # When ingestion runs through it
        summary = ingest_chain(config, settings, options)

    # Then it retried its way to exactly the clean run's events
    assert summary.stopped == "caught_up" and summary.cursor == summary.head
    assert summary.rpc_retries >= 8
    assert {"429", "null", "truncate", "internal", "timeout", "cap", "hint", "empty"} <= set(proxy.injected)
    assert item_set(deployed.events_table) == clean_event_items(moto_endpoint, template, direct)


def test_exhausted_retries_fail_loudly_and_move_nothing(history_chain, deployed) -> None:  # noqa: F811
    chain, f = history_chain
    emit_everything(f)
    with FaultProxy(chain.url, ["ok"], logs_schedule=["internal"]) as proxy:
        config = chain_config(proxy.url, f)
        settings = settings_for(deployed.events_table, deployed.app_table, config)
        options = fast_options(rpc=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, timeout=2.0))
        with pytest.raises(IngestError, match=r"chain 31337: eth_getLogs failed after 3 attempts: internal error"):
            ingest_all(settings, options=options)
    assert item_set(deployed.events_table) == set()


def test_persistently_empty_answers_are_not_believed(history_chain, deployed) -> None:  # noqa: F811
    # a node that keeps answering [] where the blooms say logs exist must not move the cursor
    chain, f = history_chain
    emit_everything(f)
    with FaultProxy(chain.url, ["ok"], logs_schedule=["empty"]) as proxy:
        config = chain_config(proxy.url, f, initial_range=500, max_range=500)
        settings = settings_for(deployed.events_table, deployed.app_table, config)
        options = fast_options(rpc=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, timeout=2.0))
        with pytest.raises(IngestError, match="empty eth_getLogs answer, but block"):
            ingest_all(settings, options=options)
