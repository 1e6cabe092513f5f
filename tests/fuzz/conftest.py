"""A local cloud of its own for the fuzzer: its random writes (keys, segments, backfills) must not
change what the e2e tests expect of theirs. Small, so it catches up in seconds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.localcloud.anvil import free_port, free_port_pair
from infra.localcloud.main import LocalCloud, LocalCloudConfig


# Package scope: the local cloud's pollers swap os.environ while they invoke functions, so it must be
# stopped before the integration tests (which read the environment) run in this process.
@pytest.fixture(scope="package")
def fuzz_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    state: Path = tmp_path_factory.mktemp("kith-fuzz") / ".state"
    config = LocalCloudConfig(
        # the replayed wallets are evaluated 5 s after the replay goes quiet, not the deployed 15 s
        extra_parameters={"ReplayQuietSeconds": "5"},
        state_dir=state,
        api_port=free_port(),
        moto_port=free_port(),
        anvil_port=free_port_pair(),
        wallets=50,  # the simulator's minimum
        days=60,
        seed=23,
    )
    with LocalCloud(config) as running:
        running.catch_up(timeout=600)
        yield running
