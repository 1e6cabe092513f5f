"""Pytest fixtures for the ingestion tests (import them into a test module to use them)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.localcloud.template import Template, deploy_data_resources
from shared.ingest import ingest_chain
from shared.settings import ChainConfig
from tests.support.ingest_chain import Fixtures, HistoryAnvil, deploy_fixtures, fast_options, item_set, settings_for

_clean_stacks = itertools.count(1)


@pytest.fixture
def history_chain(tmp_path: Path) -> Iterator[tuple[HistoryAnvil, Fixtures]]:
    with HistoryAnvil(tmp_path / "anvil") as chain:
        yield chain, deploy_fixtures(chain.url)


def clean_event_items(moto_endpoint: str, template: Template, chain: ChainConfig) -> set[Any]:
    """The Events table a clean, fault-free run of the final chain produces, in fresh tables."""
    physical = deploy_data_resources(template, moto_endpoint, stack_name=f"kith-clean-{next(_clean_stacks)}")
    clean_chain = chain.model_copy(update={"rpc_url": chain.rpc_url})
    settings = settings_for(physical["EventsTable"], physical["AppTable"], clean_chain)
    ingest_chain(clean_chain, settings, fast_options())
    return item_set(physical["EventsTable"])
