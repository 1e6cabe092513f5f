"""The git-ignored .state/ folder: chain state files, the simulated deployment, logs and keys."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import time
from pathlib import Path
from typing import Any

import requests

from infra.localcloud.anvil import Anvil
from infra.localcloud.template import ROOT

STATE_DIR = ROOT / ".state"
DEPLOYMENT_FILE = "deployment.json"


class LocalCloudError(RuntimeError):
    """Something the user must fix before the local cloud can run; the message is one line saying what."""


def check_state(state_dir: Path) -> None:
    def corrupted(why: str) -> LocalCloudError:
        rel = state_dir.relative_to(ROOT) if state_dir.is_relative_to(ROOT) else state_dir
        return LocalCloudError(f"the state folder {rel}/ is corrupted ({why}): run `make reset` and try again")

    if state_dir.exists() and not state_dir.is_dir():
        raise corrupted("it is a file, not a folder")
    if not state_dir.exists():
        return
    if not os.access(state_dir, os.R_OK | os.W_OK | os.X_OK):
        raise corrupted("it is not readable and writable")
    for path in [state_dir / DEPLOYMENT_FILE, *sorted((state_dir / "chains").glob("*.json"))]:
        if not path.exists():
            continue
        try:
            json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise corrupted(f"{path.name}: {exc}") from None


def dump_state(anvil: Anvil) -> None:
    if anvil.state_file is None:
        return
    with contextlib.suppress(Exception):
        result = requests.post(
            anvil.url, json={"jsonrpc": "2.0", "id": 1, "method": "anvil_dumpState"}, timeout=60
        ).json()
        # anvil_dumpState answers hex of gzipped JSON; --state also loads that form at start
        if isinstance(result.get("result"), str):
            anvil.state_file.write_text(json.dumps(result["result"]))


def load_deployment(path: Path) -> Any:
    data = json.loads(path.read_text())
    with contextlib.suppress(ImportError, AttributeError):
        deployment_model = importlib.import_module("infra.simulator").Deployment
        return deployment_model.model_validate(data)
    return data


def chains_match(saved: Path, anvils: list[Anvil]) -> bool:
    """The saved deployment is only valid if the chains still hold its blocks (state files intact)."""
    data = json.loads(saved.read_text())
    for chain in data.get("chains", []):
        url = next((a.url for a in anvils if a.chain_id == int(chain["chain_id"])), None)
        if url is None:
            return False
        chain["rpc_url"] = url
        if chain_head(url) < int(chain.get("head_block", 0)):
            return False
    saved.write_text(json.dumps(data, indent=2))
    return True


# a chain whose newest block is this far behind the wall clock is brought up to it
CLOCK_SLACK_S = 60


def sync_clock(rpc_url: str) -> bool:
    """Mine one empty block at the wall clock when the chain's newest block is behind it; True if mined.

    The simulator mines its history at explicit timestamps that end about now, and anvil then keeps
    stamping new blocks from there, so live transfers would carry a clock a day or two old and read as
    history (docs/architecture.md, "History replay"). One block at the wall clock moves anvil's clock.
    """

    def call(method: str, params: list[Any]) -> Any:
        reply = requests.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=10)
        return reply.json()["result"]

    latest = int(call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    now = int(time.time())
    if latest >= now - CLOCK_SLACK_S:
        return False
    call("evm_mine", [now])
    return True


def chain_head(rpc_url: str) -> int:
    """The latest block number of an anvil chain."""
    result = requests.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}, timeout=5).json()
    return int(result["result"], 16)
