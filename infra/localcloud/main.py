"""`make run`: the whole of Kith on this machine, and the classes e2e tests start it with (re-exported here).

LocalApp   the template's app on a running moto server: data resources, functions, event sources, API.
LocalCloud LocalApp plus moto, two anvil chains, the community simulation and an admin API key.

Everything the run keeps lives under the git-ignored .state/ folder: chain state files, the
simulated deployment, and logs (.state/logs/, one file per function).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from infra.localcloud.app import LocalApp
from infra.localcloud.cloud import LocalCloud, LocalCloudConfig, check_prerequisites
from infra.localcloud.demo import DEMO_CAMPAIGN, DEMO_SEGMENTS, chains_config
from infra.localcloud.progress import Rate, expected_records
from infra.localcloud.runner import DrainTimeout
from infra.localcloud.state import STATE_DIR, LocalCloudError, check_state

__all__ = [
    "DEMO_CAMPAIGN",
    "DEMO_SEGMENTS",
    "LocalApp",
    "LocalCloud",
    "LocalCloudConfig",
    "LocalCloudError",
    "Rate",
    "chains_config",
    "check_prerequisites",
    "check_state",
    "expected_records",
    "main",
    "parser",
    "run",
    "terminate_on_sigterm",
]

# ----------------------------------------------------------------------------- the command line


def _whale_address(deployment: Any) -> str | None:
    data = deployment.model_dump(mode="json") if hasattr(deployment, "model_dump") else deployment
    personas = data.get("personas") if isinstance(data, dict) else None
    if isinstance(personas, dict):  # persona -> wallets
        whales = personas.get("whale") or []
        return str(whales[0]) if whales else None
    for persona in personas or []:
        text = json.dumps(persona).lower()
        if "whale" in text:
            return str(persona.get("address") or persona.get("wallet") or "")
    return None


def _banner(cloud: LocalCloud, out: TextIO) -> None:
    key = cloud.admin_key
    whale = _whale_address(cloud.deployment) if cloud.deployment is not None else None
    url = cloud.url
    segments = cloud.segment_ids()
    drifting = segments.get("Drifting away") or next(iter(segments.values()), "<segment id>")
    sinks_url = cloud.sinks.url if cloud.sinks else "<not started>"
    lines = [
        "",
        f"Kith is running: API at {url}",
        f"admin API key: {key}",
        "",
        "try:",
        f'  export KEY="{key}"',
        "  # the five most engaged wallets, by decayed engagement score",
        f'  curl -H "Authorization: Bearer $KEY" "{url}/wallets?limit=5"',
        "  # a whale's profile: holdings, labels, churn state, and its score explained component by component",
        f'  curl -H "Authorization: Bearer $KEY" "{url}/wallets/{whale or "<address>"}"',
        "  # holders who have gone quiet for 30+ days: the audience for a win-back campaign",
        f'  curl -H "Authorization: Bearer $KEY" "{url}/segments/{drifting}/members?limit=10"',
        f'  curl -H "Authorization: Bearer $KEY" "{url}/segments"   # every segment, with its member count',
        "  # the win-back campaign: each wallet that drifts away gets a signed webhook; 10% are held out",
        f'  curl -H "Authorization: Bearer $KEY" "{url}/campaigns"',
        "",
        f"deliveries (webhooks, Discord, Telegram, XMTP, email): {sinks_url}/",
        "",
        f"logs: {cloud.state_dir / 'logs'}/ (one file per function)",
        "Ctrl-C stops everything.",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Within the block a SIGTERM unwinds like Ctrl-C, so the cloud stops its moto and anvil processes."""

    def raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    terminal = sys.stdout
    state_dir = Path(args.state_dir).resolve() if args.state_dir else STATE_DIR

    tty = terminal.isatty()
    last = [""]

    def show(line: str) -> None:
        # on a terminal one progress line is rewritten in place; elsewhere each new line is printed once
        if tty:
            terminal.write("\r\033[K" + line)
        elif line != last[0]:
            terminal.write(line + "\n")
        last[0] = line
        terminal.flush()

    def finish_line() -> None:
        if tty and last[0]:
            terminal.write("\n")
            last[0] = ""

    config = LocalCloudConfig.from_environment(
        api_port=args.port,
        wallets=args.wallets,
        days=args.days,
        seed=args.seed,
        state_dir=state_dir,
        speed=args.speed,
        log_to_files=True,
    )
    cloud = LocalCloud(config, progress=show)
    stop = threading.Event()
    with terminate_on_sigterm():
        try:
            cloud.start()
            finish_line()
            terminal.write(
                f"the API is already up at {cloud.url} (admin key in {state_dir / 'admin-key'}); "
                "catching up with the chains:\n"
            )
            cloud.catch_up(timeout=args.catch_up_timeout, on_progress=show)
            finish_line()
            _banner(cloud, terminal)
            stop.wait()
        except LocalCloudError as exc:
            if tty:
                terminal.write("\r\033[K")
            terminal.write(f"{exc}\n")
            return 1
        except DrainTimeout as exc:
            finish_line()
            terminal.write(f"{exc}; see {state_dir / 'logs'}/\n")
            return 1
        except KeyboardInterrupt:
            finish_line()
            terminal.write("stopping...\n")
        finally:
            cloud.stop()
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m infra.localcloud", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="start the local cloud with a simulated community")
    run_cmd.add_argument("--wallets", type=int, default=2000)
    run_cmd.add_argument("--days", type=int, default=180)
    run_cmd.add_argument("--seed", type=int, default=7)
    run_cmd.add_argument("--port", type=int, default=None, help="API port (default 8080 or KITH_API_PORT)")
    run_cmd.add_argument("--speed", type=float, default=1.0, help="divide schedule intervals by this")
    run_cmd.add_argument("--state-dir", default=None, help="state folder (default .state/)")
    run_cmd.add_argument("--catch-up-timeout", type=float, default=1800.0)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "run":
        return run(args)
    return 2
