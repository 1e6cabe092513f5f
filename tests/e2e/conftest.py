"""One local cloud (two anvil chains with a small simulated community, moto, every function, the
gateway) for the whole e2e session, reached over HTTP only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.localcloud import calls
from infra.localcloud.anvil import free_port, free_port_pair
from infra.localcloud.main import LocalCloud, LocalCloudConfig


# Every AWS call the functions make during the session, for the IAM test (test_iam_e2e.py): recording starts
# before the cloud does, so nothing a function calls is missed, and stops with the package.
@pytest.fixture(scope="package")
def aws_calls() -> Iterator[calls.Recorder]:
    with calls.recording() as recorder:
        yield recorder


# Package scope: the local cloud's pollers swap os.environ while they invoke functions, so it must be
# stopped before the integration tests (which read the environment) run in this process.
@pytest.fixture(scope="package")
def cloud(tmp_path_factory: pytest.TempPathFactory, aws_calls: calls.Recorder) -> Iterator[LocalCloud]:
    state: Path = tmp_path_factory.mktemp("kith-e2e") / ".state"
    config = LocalCloudConfig(
        # the replayed wallets are evaluated 5 s after the replay goes quiet, not the deployed 15 s
        extra_parameters={"ReplayQuietSeconds": "5"},
        state_dir=state,
        api_port=free_port(),
        moto_port=free_port(),
        anvil_port=free_port_pair(),
        sinks_port=free_port(),
        # long enough for diamond hands (155 days), small enough to catch up in about a minute
        wallets=120,
        days=180,
        seed=11,
    )
    with LocalCloud(config) as running:
        running.catch_up(timeout=600)
        yield running


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that send transactions to the shared chains run after the others, so every other test sees
    the simulated community exactly as simulated; tests of the whole session's AWS calls run last of all.

    Only this package's tests move, among themselves: moved past the other suites, they would stop the
    package's local cloud and start a second one."""
    here = Path(__file__).parent
    positions = [i for i, item in enumerate(items) if item.path.is_relative_to(here)]
    ordered = sorted(
        (items[i] for i in positions),
        key=lambda item: (
            item.get_closest_marker("reads_aws_calls") is not None,
            item.get_closest_marker("moves_chain") is not None,
        ),
    )
    for position, item in zip(positions, ordered, strict=True):
        items[position] = item
