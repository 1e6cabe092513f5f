"""Child processes of the local cloud (anvil, moto): wait until one answers, and stop it for sure."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import requests


def wait_until_answering(process: subprocess.Popen[bytes], probe: Callable[[], object], timeout: float) -> str | None:
    """None once `probe` succeeds; otherwise why not ("exited with code N" or "did not answer ...")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited with code {process.returncode}"
        try:
            probe()
            return None
        except requests.RequestException:
            time.sleep(0.1)
    return f"did not answer within {timeout:.0f} s"


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """Terminate, then kill if it will not go within 10 s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
