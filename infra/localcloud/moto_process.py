"""moto's server in a process of its own, with Kith's patches (infra.localcloud.moto_patches) applied.

The local cloud's functions run in one Python process; a moto server inside it would share its GIL,
so every DynamoDB call would wait on the functions' own work. In its own process it has a core to itself.
The patches make Queries cost the asked partition rather than the table (base table and indexes),
transactions cost their items, and serve one request at a time (moto's models are not thread-safe).
A second port into the same backends serves its requests first: the local cloud points the API and
its authorizer at it, so an API call does not queue behind the stream and queue functions' batches.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import requests

from infra.localcloud.environ import GIL_SWITCH_INTERVAL_S
from infra.localcloud.processes import stop_process, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]


class MotoProcess:
    def __init__(self, port: int, log_file: Path, interactive_port: int | None = None) -> None:
        self.port = port
        self.interactive_port = interactive_port
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def interactive_url(self) -> str:
        """Same backends as `url`, served first (the URL itself when there is no interactive port)."""
        return f"http://127.0.0.1:{self.interactive_port}" if self.interactive_port else self.url

    def start(self, timeout: float = 30.0) -> MotoProcess:
        log = open(self.log_file, "ab")  # noqa: SIM115 - lives as long as the process
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infra.localcloud.moto_process",
                "--port",
                str(self.port),
                *(["--interactive-port", str(self.interactive_port)] if self.interactive_port else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )

        def answering() -> None:
            for url in {self.url, self.interactive_url}:
                requests.get(f"{url}/moto-api/", timeout=1).raise_for_status()

        problem = wait_until_answering(self.process, answering, timeout)
        if problem is None:
            return self
        self.stop()
        raise RuntimeError(f"moto's server on {self.url} {problem}: see {self.log_file}")

    def stop(self) -> None:
        stop_process(self.process)


def main() -> None:
    parser = argparse.ArgumentParser(description="moto's server with Kith's patches")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--interactive-port", type=int, default=None, help="a second port, served first")
    args = parser.parse_args()
    # A request thread that gets its answer off the socket waits for the GIL up to the switch interval
    # per busy thread; at the default 5 ms, one thread per concurrent request convoys behind the others.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    from moto.server import ThreadedMotoServer

    from infra.localcloud import moto_patches

    moto_patches.apply()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    servers = [ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)]
    if args.interactive_port:
        moto_patches.serve_first_on(args.interactive_port)
        servers.append(ThreadedMotoServer(ip_address="127.0.0.1", port=args.interactive_port, verbose=False))
    for server in servers:
        server.start()
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        time.sleep(0.2)
    for server in servers:
        server.stop()


if __name__ == "__main__":
    main()
