"""Start and stop anvil chains for the local cloud and the tests.

anvil runs with `--prune-history` and with HOME inside the state folder: without them it writes
hundreds of MB under ~/.foundry (docs/architecture.md, "The local cloud").
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import requests

from infra.localcloud.processes import stop_process, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]
ANVIL_BIN = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"


class AnvilError(RuntimeError):
    pass


def anvil_binary() -> Path:
    if ANVIL_BIN.exists():
        return ANVIL_BIN
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise AnvilError("anvil is not installed: run `npm ci` in the project folder (make does this)")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port_pair() -> int:
    """A free port whose successor is free too: the second anvil chain listens on port + 1."""
    for _ in range(50):
        port = free_port()
        if port_is_free(port + 1):
            return port
    raise RuntimeError("no two adjacent free ports for the anvil chains")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Anvil:
    chain_id: int
    port: int
    state_dir: Path
    block_time: int | None = None
    gas_limit: int = 30_000_000
    state_file: Path | None = None
    # a bare --prune-history keeps no past states, and anvil_reorg and eth_call at past blocks need some
    prune_history: int = 1024
    # unix time of the first block; the simulator plays its history forward from here
    genesis_timestamp: int | None = None
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Anvil:
        if not port_is_free(self.port):
            raise AnvilError(
                f"port {self.port} is already in use: stop what holds it or set KITH_ANVIL_PORT to another port"
            )
        home = self.state_dir / "home"
        home.mkdir(parents=True, exist_ok=True)
        args = [
            str(anvil_binary()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--prune-history",
            str(self.prune_history),
            "--gas-limit",
            str(self.gas_limit),
            "--accounts",
            "10",
            "--silent",
        ]
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        if self.genesis_timestamp is not None:
            args += ["--timestamp", str(self.genesis_timestamp)]
        if self.state_file is not None:
            args += ["--state", str(self.state_file)]
        args += self.extra_args
        env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
        log = open(self.state_dir / f"anvil-{self.chain_id}.log", "ab")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.state_dir)
        problem = wait_until_answering(
            self.process,
            lambda: requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=1),
            timeout,
        )
        if problem is None:
            return self
        self.stop()
        log_file = self.state_dir / f"anvil-{self.chain_id}.log"
        raise AnvilError(f"anvil for chain {self.chain_id} {problem} on {self.url}: see {log_file}")

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
