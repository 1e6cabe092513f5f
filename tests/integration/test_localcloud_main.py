"""`make run`'s orchestration: the one-line errors, and a full start/stop that leaves no processes behind."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from infra.localcloud.anvil import free_port, port_is_free
from infra.localcloud.main import LocalCloud, LocalCloudConfig, LocalCloudError, chains_config, check_state
from infra.localcloud.template import ROOT

pytestmark = pytest.mark.integration


def _two_free_ports() -> int:
    while True:
        port = free_port()
        if port < 65000 and port_is_free(port + 1):
            return port


def test_a_corrupted_state_folder_is_one_clear_line(tmp_path: Path) -> None:
    state = tmp_path / ".state"
    (state / "chains").mkdir(parents=True)
    (state / "chains" / "31337.json").write_text("{not json")
    with pytest.raises(LocalCloudError, match=r"is corrupted \(31337.json: .*\): run `make reset` and try again"):
        check_state(state)
    (state / "chains" / "31337.json").write_text("{}")
    check_state(state)
    bad = tmp_path / "file-state"
    bad.write_text("")
    with pytest.raises(LocalCloudError, match="corrupted"):
        check_state(bad)


def test_a_busy_port_stops_the_run_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {
            **os.environ,
            "KITH_MOTO_PORT": str(port),
            "KITH_API_PORT": str(free_port()),
            "KITH_ANVIL_PORT": str(_two_free_ports()),
        }
        result = subprocess.run(
            [sys.executable, "-m", "infra.localcloud", "run", "--state-dir", str(tmp_path / ".state")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines == [f"port {port} is already in use: stop what holds it or set KITH_MOTO_PORT"]


def test_chains_config_maps_simulator_roles_to_standards() -> None:
    deployment = {
        "chains": [
            {
                "chain_id": 31337,
                "rpc_url": "http://127.0.0.1:8545",
                "start_block": 3,
                "head_block": 90,
                "contracts": {
                    "token": "0x" + "1" * 40,
                    "collection": "0x" + "2" * 40,
                    "items": "0x" + "3" * 40,
                    "governor": "0x" + "4" * 40,
                    "lending_pool": "0x" + "5" * 40,
                },
            }
        ]
    }
    from shared.settings import ChainConfig

    (chain,) = [ChainConfig.model_validate(c) for c in json.loads(chains_config(deployment))]
    assert chain.rpc_url == "http://127.0.0.1:8545" and chain.first_block == 3
    standards = sorted(c.standard.value for c in chain.contracts)
    assert standards == ["erc1155", "erc20", "erc721", "governor", "lending-pool"]


def test_the_local_cloud_starts_serves_and_stops_without_orphans(tmp_path: Path) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # Given the real template, without the community simulation
    config = LocalCloudConfig(
        state_dir=tmp_path / ".state",
        api_port=free_port(),
        moto_port=free_port(),
        anvil_port=_two_free_ports(),
        simulate=False,
    )
    cloud = LocalCloud(config)
    # When it starts
    with cloud:
        # Then moto, both chains and the API answer
        assert [a.chain_id for a in cloud.anvils] == [31337, 31338]
        for anvil in cloud.anvils:
            assert requests.post(
                anvil.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=5
            ).json()["result"]
        assert requests.get(f"{cloud.url}/wallets", timeout=10).status_code == 401
        # and the bootstrapped admin key passes the real authorizer
        assert cloud.admin_key.startswith("kith_")
        assert (config.state_dir / "admin-key").read_text().strip() == cloud.admin_key
        answer = requests.get(
            f"{cloud.url}/wallets", headers={"Authorization": f"Bearer {cloud.admin_key}"}, timeout=30
        )
        assert answer.status_code not in (401, 403)
        cloud.drain(60, include_retries=True)
        processes = [a.process for a in cloud.anvils]
    # When it stops, no process or port is left behind
    assert all(p is not None and p.poll() is not None for p in processes)
    for port in (config.api_port, config.moto_port, config.anvil_port, config.anvil_port + 1):
        assert port_is_free(port), port


def test_missing_node_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    # Given a PATH without node or npm (only the directory of this Python)
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run(
        [sys.executable, "-m", "infra.localcloud", "run", "--state-dir", str(tmp_path / ".state")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "Node.js" in lines[0], lines
