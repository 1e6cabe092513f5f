"""Fixtures shared by the whole suite: a real moto server and real anvil chains, over real connections."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "KithTest")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
# the local cloud's egress setting: chains and sinks listen on 127.0.0.1 over http (shared.egress)
os.environ.setdefault("KITH_EGRESS", '{"allow_http": true, "allow_networks": ["127.0.0.0/8"]}')

from infra.localcloud.anvil import Anvil, free_port
from infra.localcloud.template import Template, deploy_data_resources, load_template

_stack_numbers = itertools.count(1)
# moto's server logs every request through werkzeug; that drowns the output of a failing test
logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from infra.localcloud import moto_patches

    moto_patches.apply()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def template() -> Template:
    return load_template()


@dataclass
class Deployed:
    """One fresh copy of the template's data resources in moto."""

    endpoint: str
    physical: dict[str, str]

    @property
    def events_table(self) -> str:
        return self.physical["EventsTable"]

    @property
    def app_table(self) -> str:
        return self.physical["AppTable"]

    def env(self) -> dict[str, str]:
        return {
            "EVENTS_TABLE": self.physical["EventsTable"],
            "APP_TABLE": self.physical["AppTable"],
            "BACKFILL_QUEUE_URL": self.physical["BackfillQueue"],
            "AWS_ENDPOINT_URL": self.endpoint,
        }


@pytest.fixture
def deployed(moto_endpoint: str, template: Template, monkeypatch: pytest.MonkeyPatch) -> Deployed:
    """Fresh tables and queues (a new stack) for each test, with the environment pointing at them."""
    physical = deploy_data_resources(template, moto_endpoint, stack_name=f"kith-test-{next(_stack_numbers)}")
    result = Deployed(endpoint=moto_endpoint, physical=physical)
    for name, value in result.env().items():
        monkeypatch.setenv(name, value)
    from shared.settings import get_settings

    get_settings.cache_clear()
    return result


@pytest.fixture
def anvil_chain(tmp_path: Path) -> Iterator[Anvil]:
    """A fresh anvil chain (chain id 31337) for one test."""
    with Anvil(chain_id=31337, port=free_port(), state_dir=tmp_path / "anvil") as chain:
        yield chain
