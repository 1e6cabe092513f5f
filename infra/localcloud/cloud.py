"""LocalCloud: moto, two anvil chains, the delivery sinks and the app, started, caught up, drained and stopped.

Everything the run keeps lives under the git-ignored .state/ folder (infra.localcloud.state); the demo it
bootstraps (simulated community, admin key, segments, campaign) is infra.localcloud.demo.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets as secret_tokens
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from infra.localcloud.anvil import Anvil, AnvilError, anvil_binary, free_port, port_is_free
from infra.localcloud.app import LocalApp
from infra.localcloud.demo import (
    chains_config,
    create_admin_key,
    create_demo_campaign,
    create_demo_segments,
    load_or_simulate,
    segment_ids,
)
from infra.localcloud.functions import RoutingStream
from infra.localcloud.moto_process import MotoProcess
from infra.localcloud.progress import Rate, duration, expected_records
from infra.localcloud.runner import DrainTimeout
from infra.localcloud.sinks import LocalSinks, local_channels_env, prepare_local_email
from infra.localcloud.state import STATE_DIR, LocalCloudError, chain_head, check_state
from infra.localcloud.template import TEMPLATE, load_template
from shared.store import keys
from shared.store.dynamo import to_item

CHAIN_IDS = (31337, 31338)
INGEST_FUNCTION = "IngestFunction"


@dataclass
class LocalCloudConfig:
    state_dir: Path = STATE_DIR
    template_path: Path = TEMPLATE
    api_port: int = 8080
    moto_port: int = 4566
    anvil_port: int = 8545
    wallets: int = 2000
    days: int = 180
    seed: int = 7
    simulate: bool = True
    speed: float = 1.0
    log_to_files: bool = False  # route handler output to .state/logs/<function>.log (make run does)
    stack_name: str = "kith-local"
    extra_parameters: dict[str, str] = field(default_factory=dict)
    # the local webhook receiver, Discord/Telegram/XMTP stand-ins and email viewer; 0 picks a free port
    sinks_port: int = 0

    @classmethod
    def from_environment(cls, **overrides: Any) -> LocalCloudConfig:
        config = cls(
            api_port=int(os.environ.get("KITH_API_PORT", 8080)),
            moto_port=int(os.environ.get("KITH_MOTO_PORT", 4566)),
            anvil_port=int(os.environ.get("KITH_ANVIL_PORT", 8545)),
            sinks_port=int(os.environ.get("KITH_SINKS_PORT", 8025)),
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(config, key, value)
        return config


def check_prerequisites(config: LocalCloudConfig) -> None:
    """Tools, ports and state folder, each failure as one line saying what to do."""
    for tool, hint in (("node", "install Node.js 18 or later"), ("npm", "install npm (it comes with Node.js)")):
        if shutil.which(tool) is None:
            raise LocalCloudError(f"{tool} is not installed: {hint}")
    try:
        anvil_binary()
    except AnvilError as exc:
        raise LocalCloudError(str(exc)) from None
    ports = [
        (config.api_port, "KITH_API_PORT (or --port)"),
        (config.moto_port, "KITH_MOTO_PORT"),
        (config.anvil_port, "KITH_ANVIL_PORT"),
        *([(config.sinks_port, "KITH_SINKS_PORT")] if config.sinks_port else []),
        (config.anvil_port + 1, "KITH_ANVIL_PORT (the second chain uses it + 1)"),
    ]
    for port, variable in ports:
        if not port_is_free(port):
            raise LocalCloudError(f"port {port} is already in use: stop what holds it or set {variable}")
    check_state(config.state_dir)


class LocalCloud:
    """moto + anvil chains + the simulated community + the app, for `make run` and e2e tests.

    with LocalCloud(LocalCloudConfig(api_port=0, moto_port=free_port(), ...)) as cloud:
        cloud.drain()
        requests.get(f"{cloud.url}/wallets", headers={"Authorization": f"Bearer {cloud.admin_key}"})
    """

    def __init__(self, config: LocalCloudConfig, progress: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.progress = progress or (lambda _line: None)
        self.moto: Any = None
        self.anvils: list[Anvil] = []
        self.app: LocalApp | None = None
        self.sinks: LocalSinks | None = None
        self.deployment: Any = None
        self.admin_key: str = ""
        self.admin_key_id: str = ""
        self._routing: RoutingStream | None = None
        self._saved_streams: tuple[TextIO, TextIO] | None = None
        self._rate = Rate()

    @property
    def state_dir(self) -> Path:
        return self.config.state_dir

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.config.moto_port}"

    @property
    def url(self) -> str:
        assert self.app is not None
        return self.app.url

    @property
    def rpc_urls(self) -> list[str]:
        return [a.url for a in self.anvils]

    def start(self) -> LocalCloud:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        config = self.config
        check_prerequisites(config)
        # moto accepts any credentials; boto3 in this process must still find some
        for name, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ):
            os.environ.setdefault(name, value)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        logs = self.state_dir / "logs"
        logs.mkdir(exist_ok=True)
        if config.log_to_files:
            self._route_output(logs)
        self.progress("starting moto")
        try:
            self.moto = MotoProcess(config.moto_port, logs / "moto.log", interactive_port=free_port()).start()
        except RuntimeError as exc:
            raise LocalCloudError(str(exc)) from None
        self._start_chains()
        self.deployment = load_or_simulate(self.state_dir, self.anvils, config, self.progress)
        parameters = dict(config.extra_parameters)
        if self.deployment is not None:
            parameters["ChainsConfig"] = chains_config(self.deployment)
        channel_secrets = self._start_sinks()
        parameters["ChannelsConfig"] = channel_secrets.pop("KITH_CHANNELS")
        template = load_template(config.template_path, parameters)
        self.progress("creating tables and queues in moto")
        self.app = LocalApp(
            template,
            self.endpoint_url,
            stack_name=config.stack_name,
            base_dir=config.template_path.parent,
            api_port=config.api_port,
            speed=config.speed,
            # the first ingest is triggered explicitly, once the admin key exists
            fire_schedules_at_start=False,
            extra_environment=channel_secrets,
            interactive_endpoint_url=self.moto.interactive_url if self.moto else None,
        )
        self.app.deploy()
        self.admin_key_id, self.admin_key = create_admin_key(self.app, self.state_dir)
        if self.deployment is not None:
            create_demo_segments(self.app)
        assert self.sinks is not None
        create_demo_campaign(self.app, self.sinks)
        self.app.start()
        assert self.app.runner is not None
        if any(s.function == INGEST_FUNCTION for s in self.app.runner.sources.schedules):
            self.app.runner.trigger_now(INGEST_FUNCTION)

    def _route_output(self, logs: Path) -> None:
        self._routing = RoutingStream(logs)
        self._saved_streams = (sys.stdout, sys.stderr)
        sys.stdout = self._routing
        sys.stderr = self._routing
        handler = logging.StreamHandler(self._routing)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)

    def _start_chains(self) -> None:
        chains_dir = self.state_dir / "chains"
        chains_dir.mkdir(parents=True, exist_ok=True)
        for offset, chain_id in enumerate(CHAIN_IDS):
            self.progress(f"starting anvil chain {chain_id}")
            state_file = chains_dir / f"{chain_id}.json"
            anvil = Anvil(
                chain_id=chain_id,
                port=self.config.anvil_port + offset,
                state_dir=chains_dir,
                state_file=state_file,
                # a new chain starts far enough in the past that the simulated history ends about now,
                # so ages, dormancy and decayed scores read true against the wall clock
                genesis_timestamp=None if state_file.exists() else int(time.time()) - (self.config.days + 2) * 86_400,
            )
            try:
                anvil.start()
            except AnvilError as exc:
                raise LocalCloudError(str(exc)) from None
            self.anvils.append(anvil)

    def _start_sinks(self) -> dict[str, str]:
        """The local stand-ins for every channel's receiver; returns the channels' environment."""
        secret_file = self.state_dir / "webhook-secret"
        if not secret_file.exists():
            secret_file.write_text(secret_tokens.token_hex(32))
            secret_file.chmod(0o600)
        webhook_secret = secret_file.read_text().strip()
        self.progress("starting the delivery sinks (webhook receiver, chat stand-ins, email viewer)")
        self.sinks = LocalSinks(
            port=self.config.sinks_port,
            webhook_secret=webhook_secret,
            state_dir=self.state_dir / "deliveries",
            moto_endpoint=self.endpoint_url,
        ).start()
        prepare_local_email(self.endpoint_url)
        return local_channels_env(self.sinks.url, webhook_secret)

    def segment_ids(self) -> dict[str, str]:
        """Segment name -> id, read with the API function's environment."""
        return segment_ids(self.app)

    def drain(self, timeout: float = 600.0, include_retries: bool = False) -> None:
        assert self.app is not None
        self.app.drain(timeout, include_retries)

    def catch_up(self, timeout: float = 900.0, on_progress: Callable[[str], None] | None = None) -> None:
        """Ingest until every chain's head is reached and the pipeline is idle, reporting progress."""
        assert self.app is not None and self.app.runner is not None
        report = on_progress or self.progress
        deadline = time.monotonic() + timeout
        while True:
            runner = self.app.runner
            try:
                self.app.drain(min(5.0, max(0.1, deadline - time.monotonic())), include_retries=False)
                drained = True
            except DrainTimeout:
                drained = False
            report(self.progress_line())
            behind = self.blocks_behind()
            if drained and behind == 0:
                return
            if behind != 0 and INGEST_FUNCTION in self.app.host.specs:  # type: ignore[union-attr]
                # an ingest run covers a bounded range; the next one starts where it stopped, without
                # waiting for the pipeline (a replay's wallets wait for the replay to go quiet, and the
                # replay only goes quiet once ingestion stops bringing history)
                runner.trigger_now(INGEST_FUNCTION)
            if time.monotonic() > deadline:
                raise DrainTimeout(f"not caught up after {timeout:.0f} s ({behind} block(s) behind)")

    def cursor(self, chain_id: int) -> int | None:
        """The ingest cursor (last block ingested) of one chain, read from the app table."""
        assert self.app is not None
        with contextlib.suppress(Exception):
            table = self.app.physical["AppTable"]
            item = (
                self.app.client("dynamodb")
                .get_item(TableName=table, Key=to_item(keys.cursor_key(chain_id)))
                .get("Item")
            )
            if item:
                for name in ("last_block", "cursor", "block"):
                    if name in item and "N" in item[name]:
                        return int(item[name]["N"])
        return None

    def heads(self) -> dict[int, int]:
        found: dict[int, int] = {}
        for anvil in self.anvils:
            with contextlib.suppress(Exception):
                found[anvil.chain_id] = chain_head(anvil.url)
        return found

    def blocks_behind(self) -> int | None:
        """Blocks still to ingest over all chains; None when the cursor cannot be read."""
        if self.deployment is None:
            return 0
        total = 0
        for chain_id, head in self.heads().items():
            cursor = self.cursor(chain_id)
            if cursor is None:
                return None
            total += max(0, head - cursor)
        return total

    def progress_line(self) -> str:
        """One line: blocks ingested per chain, stream records applied of those expected, their rate and ETA.

        While blocks remain to ingest, the records expected are those read so far scaled by the blocks still
        to come (marked ~): the records read alone would promise an end long before it."""
        assert self.app is not None and self.app.runner is not None
        parts = []
        ingested = total = 0
        for chain_id, head in self.heads().items():
            cursor = self.cursor(chain_id)
            parts.append(f"chain {chain_id}: {cursor if cursor is not None else '-'}/{head} blocks")
            ingested += min(head, cursor or 0)
            total += head
        applied, backlog = self.app.runner.stream_backlog()
        rate = self._rate.observe(applied)
        expected = expected_records(applied + backlog, ingested, total)
        approximately = "~" if expected > applied + backlog else ""
        line = f"{applied:,}/{approximately}{expected:,} stream records applied"
        if rate:
            line += f" ({rate:,.0f}/s"
            line += f", ETA {approximately}{duration((expected - applied) / rate)})" if expected > applied else ")"
        parts.append(line)
        errors = sum(self.app.runner.stats()["errors"].values())
        if errors:
            parts.append(f"{errors} function error(s), see {self.state_dir / 'logs'}/")
        return ", ".join(parts)

    def stop(self) -> None:
        if self.app is not None:
            with contextlib.suppress(Exception):
                self.app.stop()
        if self.sinks is not None:
            with contextlib.suppress(Exception):
                self.sinks.stop()
        # signal every chain first: each dumps its state on exit, and they can do it side by side
        for anvil in self.anvils:
            with contextlib.suppress(Exception):
                if anvil.process is not None and anvil.process.poll() is None:
                    anvil.process.terminate()
        for anvil in self.anvils:
            with contextlib.suppress(Exception):
                anvil.stop()
        if self.moto is not None:
            with contextlib.suppress(Exception):
                self.moto.stop()
            self.moto = None
        if self._saved_streams is not None:
            sys.stdout, sys.stderr = self._saved_streams
            self._saved_streams = None
        if self._routing is not None:
            for handler in list(logging.getLogger().handlers):
                if isinstance(handler, logging.StreamHandler) and handler.stream is self._routing:
                    logging.getLogger().removeHandler(handler)
            self._routing.close_files()
            self._routing = None

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
