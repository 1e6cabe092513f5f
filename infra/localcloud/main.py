"""`make run`: the whole of Kith on this machine, and the classes e2e tests start it with.

LocalApp   the template's app on a running moto server: data resources, functions, event sources, API.
LocalCloud LocalApp plus moto, two anvil chains, the community simulation and an admin API key.

Everything the run keeps lives under the git-ignored .state/ folder: chain state files, the
simulated deployment, and logs (.state/logs/, one file per function).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from infra.localcloud.anvil import Anvil, AnvilError, anvil_binary, free_port, port_is_free
from infra.localcloud.functions import (
    FunctionHost,
    Resolver,
    RoutingStream,
    aws_client,
    discover_functions,
)
from infra.localcloud.gateway import Gateway, discover_apis
from infra.localcloud.runner import DrainTimeout, Runner
from infra.localcloud.sinks import LocalSinks
from infra.localcloud.template import ROOT, TEMPLATE, Template, deploy_data_resources, load_template

log = logging.getLogger("kith.localcloud")

STATE_DIR = ROOT / ".state"
CHAIN_IDS = (31337, 31338)
DEPLOYMENT_FILE = "deployment.json"
INGEST_FUNCTION = "IngestFunction"
KEY_FUNCTION = "ApiFunction"  # bootstrap code runs with the API's environment (it owns the keys)


class LocalCloudError(RuntimeError):
    """Something the user must fix before the local cloud can run; the message is one line saying what."""


# ----------------------------------------------------------------------------- the app on moto


class LocalApp:
    """Deploys `template`'s data resources into moto and serves its functions, event sources and API.

    `base_dir` is the folder CodeUri is relative to (the template's folder). `api_port=0` picks a free
    port. `speed` divides schedule intervals and batching windows, for demos and tests.
    """

    def __init__(
        self,
        template: Template,
        endpoint_url: str,
        *,
        stack_name: str = "kith-local",
        base_dir: Path | None = None,
        api_port: int | None = 0,
        api_port_variable: str = "KITH_API_PORT",
        speed: float = 1.0,
        fire_schedules_at_start: bool = True,
        schedules_enabled: bool = True,
        poll_interval: float = 0.1,
        retry_base_delay: float = 0.2,
        extra_environment: dict[str, str] | None = None,
        interactive_endpoint_url: str | None = None,
    ) -> None:
        self.template = template
        self.endpoint_url = endpoint_url
        self.interactive_endpoint_url = interactive_endpoint_url
        self.extra_environment = dict(extra_environment or {})
        self.stack_name = stack_name
        self.base_dir = base_dir
        self.api_port = api_port
        self.api_port_variable = api_port_variable
        self.speed = speed
        self.fire_schedules_at_start = fire_schedules_at_start
        self.schedules_enabled = schedules_enabled
        self.poll_interval = poll_interval
        self.retry_base_delay = retry_base_delay
        self.physical: dict[str, str] = {}
        self.resolver: Resolver | None = None
        self.host: FunctionHost | None = None
        self.runner: Runner | None = None
        self.gateway: Gateway | None = None

    def deploy(self) -> LocalApp:
        self.physical = deploy_data_resources(self.template, self.endpoint_url, stack_name=self.stack_name)
        self.resolver = Resolver(self.template, self.physical, self.endpoint_url, stack_name=self.stack_name)
        specs = discover_functions(self.template, self.resolver, base_dir=self.base_dir)
        behind_the_api = {
            function
            for api in discover_apis(self.template, self.resolver)
            for route in api.routes
            for function in (route.function, route.authorizer.function if route.authorizer else None)
            if function
        }
        self.host = FunctionHost(
            specs,
            self.endpoint_url,
            extra_environment=self.extra_environment,
            interactive_endpoint_url=self.interactive_endpoint_url,
            interactive_functions=behind_the_api,
        )
        return self

    def start(self) -> LocalApp:
        """Deploy (if not yet), then start the event sources and the API gateway."""
        if self.host is None:
            self.deploy()
        assert self.resolver is not None and self.host is not None
        self.runner = Runner(
            self.template,
            self.resolver,
            self.host,
            speed=self.speed,
            poll_interval=self.poll_interval,
            retry_base_delay=self.retry_base_delay,
            fire_schedules_at_start=self.fire_schedules_at_start,
            schedules_enabled=self.schedules_enabled,
        )
        apis = discover_apis(self.template, self.resolver)
        if self.api_port is not None and apis:
            self.gateway = Gateway(apis[0], self.host, self.api_port, port_variable=self.api_port_variable)
            self.gateway.start()
        try:
            self.runner.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        if self.runner is not None:
            self.runner.stop()

    def drain(self, timeout: float = 60.0, include_retries: bool = True) -> None:
        if self.runner is None:
            raise RuntimeError("start the app before draining it")
        self.runner.drain(timeout, include_retries)

    @property
    def url(self) -> str:
        if self.gateway is None:
            raise RuntimeError("the API gateway is not running")
        return self.gateway.url

    def client(self, service: str) -> Any:
        return aws_client(service, self.endpoint_url)

    def __enter__(self) -> LocalApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ----------------------------------------------------------------------------- the full local cloud


DEMO_CAMPAIGN = "Win back the drifting"
DEMO_SEGMENTS: list[tuple[str, str, dict[str, Any]]] = [
    ("Whales", "top 1% of a token's holders", {"match": {"type": "label", "label": "whale"}}),
    (
        "Diamond hands",
        "held 155+ days without selling",
        {"match": {"type": "label", "label": "diamond_hands"}},
    ),
    (
        "Drifting away",
        "still holding, but inactive for 30 days or more",
        {
            "match": {
                "type": "all",
                "of": [
                    {"type": "days_since", "field": "last_active", "op": "gte", "days": 30},
                    {"type": "holding", "standard": "erc20", "min_adjusted": 1.0},
                ],
            }
        },
    ),
    ("Sold out", "held, then sold everything", {"match": {"type": "churn", "state": "exited"}}),
    (
        "Active voters",
        "voted in governance and still around",
        {
            "match": {
                "type": "all",
                "of": [
                    {"type": "label", "label": "voter"},
                    {"type": "not", "rule": {"type": "churn", "state": "exited"}},
                ],
            }
        },
    ),
    (
        "Cross-chain members",
        "active on both demo chains",
        {"match": {"type": "all", "of": [{"type": "chain", "chain_id": 31337}, {"type": "chain", "chain_id": 31338}]}},
    ),
]


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


def chains_config(deployment: Any) -> str:
    """KITH_CHAINS (a list of shared.settings.ChainConfig) from the simulator's deployment."""
    chains = []
    data = deployment.model_dump(mode="json") if hasattr(deployment, "model_dump") else dict(deployment)
    for chain in data["chains"]:
        contracts = []
        # the simulator says which roles to ingest and as what; role names are the fallback
        declared = chain.get("standards")
        for role, address in chain["contracts"].items():
            standard = declared.get(role) if isinstance(declared, dict) else _standard_of(role)
            if standard is None:
                continue
            contracts.append(
                {
                    "address": address,
                    "standard": standard,
                    "start_block": int(chain.get("start_block", 0)),
                    "label": role,
                }
            )
        chains.append(
            {
                "chain_id": int(chain["chain_id"]),
                "name": chain.get("name", f"anvil-{chain['chain_id']}"),
                "rpc_url": chain["rpc_url"],
                "contracts": contracts,
            }
        )
    return json.dumps(chains)


def _standard_of(role: str) -> str | None:
    """The simulator names contracts by role; Kith tracks them by token standard."""
    lowered = role.lower()
    for needle, standard in (
        ("erc1155", "erc1155"),
        ("items", "erc1155"),
        ("erc721", "erc721"),
        ("collection", "erc721"),
        ("nft", "erc721"),
        ("governor", "governor"),
        ("lending", "lending-pool"),
        ("pool", "lending-pool"),
        ("erc20", "erc20"),
        ("token", "erc20"),
    ):
        if needle in lowered:
            return standard
    return None


class Rate:
    """Records per second over the last half minute of observations: steady enough for an ETA, quick
    to follow the pipeline as it speeds up or slows down."""

    def __init__(self, span_s: float = 30.0) -> None:
        self.span_s = span_s
        self.samples: list[tuple[float, int]] = []

    def observe(self, count: int, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        self.samples.append((now, count))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.span_s:
            self.samples.pop(0)
        (first_time, first_count), (last_time, last_count) = self.samples[0], self.samples[-1]
        if last_time - first_time < 1.0:
            return None
        return (last_count - first_count) / (last_time - first_time)


def expected_records(read: int, ingested_blocks: int, total_blocks: int) -> int:
    """Stream records to expect in all: those read so far, scaled by the share of blocks ingested."""
    if total_blocks <= 0 or ingested_blocks >= total_blocks or ingested_blocks <= 0:
        return read
    return round(read * total_blocks / ingested_blocks)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


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
        from infra.localcloud.moto_process import MotoProcess

        try:
            self.moto = MotoProcess(config.moto_port, logs / "moto.log", interactive_port=free_port()).start()
        except RuntimeError as exc:
            raise LocalCloudError(str(exc)) from None
        self._start_chains()
        self.deployment = self._load_or_simulate()
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
        self._bootstrap_admin_key()
        self._bootstrap_demo_segments()
        self._bootstrap_demo_campaign()
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

    def _load_or_simulate(self) -> Any:
        saved = self.state_dir / DEPLOYMENT_FILE
        if saved.exists() and self._chains_match(saved):
            self.progress("reusing the simulated community from .state/")
            return _load_deployment(saved)
        if not self.config.simulate:
            return None
        try:
            # imported by name: the simulator is developed alongside and may not exist yet
            simulate = importlib.import_module("infra.simulator").simulate
        except (ImportError, AttributeError) as exc:
            raise LocalCloudError(f"the community simulator is not available ({exc})") from None
        self.progress(f"simulating {self.config.wallets} wallets over {self.config.days} days")

        def report(step: Any) -> None:
            # the simulator reports a Progress(day, days, transactions, events, elapsed) tuple
            day, days = getattr(step, "day", "?"), getattr(step, "days", self.config.days)
            self.progress(f"simulating: day {day}/{days}, {getattr(step, 'transactions', 0)} transactions")

        try:
            deployment = simulate(
                rpc_urls=self.rpc_urls,
                wallets=self.config.wallets,
                days=self.config.days,
                seed=self.config.seed,
                out=saved,
                progress=report,
            )
        except ValueError as exc:
            raise LocalCloudError(f"the community simulation failed: {exc}") from exc
        if not saved.exists():
            data = deployment.model_dump(mode="json") if hasattr(deployment, "model_dump") else deployment
            saved.write_text(json.dumps(data, indent=2))
        # anvil writes --state only on exit; dump now so a crash does not lose the simulation
        for anvil in self.anvils:
            _dump_state(anvil)
        return deployment

    def _chains_match(self, saved: Path) -> bool:
        """The saved deployment is only valid if the chains still hold its blocks (state files intact)."""
        import requests

        data = json.loads(saved.read_text())
        for chain in data.get("chains", []):
            url = next((a.url for a in self.anvils if a.chain_id == int(chain["chain_id"])), None)
            if url is None:
                return False
            chain["rpc_url"] = url
            head = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}, timeout=5).json()[
                "result"
            ]
            if int(head, 16) < int(chain.get("head_block", 0)):
                return False
        saved.write_text(json.dumps(data, indent=2))
        return True

    def _start_sinks(self) -> dict[str, str]:
        """The local stand-ins for every channel's receiver; returns the channels' environment."""
        import secrets as secret_tokens

        from infra.localcloud.sinks import LocalSinks, local_channels_env, prepare_local_email

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

    def _bootstrap_demo_campaign(self) -> None:
        """A win-back campaign on "Drifting away": each wallet that drifts gets a signed webhook."""
        assert self.app is not None and self.app.host is not None and self.sinks is not None
        segment_id = self.segment_ids().get("Drifting away")
        if segment_id is None:
            return
        from shared.campaigns import store as campaigns
        from shared.campaigns.model import CampaignCreate

        body = CampaignCreate.model_validate(
            {
                "name": DEMO_CAMPAIGN,
                "channel": "webhook",
                "webhook_url": self.sinks.webhook_url("win-back"),
                "template": {"body": "gm {{ address }}: we miss you. Your score is {{ score }}; come back?"},
                "holdout_pct": 10,
                "trigger": {"event": "segment.entered", "segment_id": segment_id, "cooldown_days": 30},
                "conversion": {"action": "transfer_in", "window_days": 14},
            }
        )
        function = KEY_FUNCTION if KEY_FUNCTION in self.app.host.specs else next(iter(self.app.host.specs))

        def create_missing() -> None:
            if not any(c.name == DEMO_CAMPAIGN for c in campaigns.list_campaigns()):
                campaigns.create_campaign(body)

        self.app.host.call_as(function, create_missing)

    def _bootstrap_admin_key(self) -> None:
        assert self.app is not None and self.app.host is not None
        try:
            from shared.auth.manage import create_api_key
        except ImportError:
            log.warning("shared.auth.manage.create_api_key is not available: no admin key was created")
            return
        function = KEY_FUNCTION if KEY_FUNCTION in self.app.host.specs else next(iter(self.app.host.specs))
        self.admin_key_id, self.admin_key = self.app.host.call_as(
            function, lambda: create_api_key("local admin", ["admin"])
        )
        (self.state_dir / "admin-key").write_text(self.admin_key + "\n")

    def segment_ids(self) -> dict[str, str]:
        """Segment name -> id, read with the API function's environment."""
        if self.app is None or self.app.host is None:
            return {}
        from shared.segments import store

        function = KEY_FUNCTION if KEY_FUNCTION in self.app.host.specs else next(iter(self.app.host.specs))
        segments: list[Any] = self.app.host.call_as(function, store.list_segments)
        return {s.name: s.segment_id for s in segments}

    def _bootstrap_demo_segments(self) -> None:
        """The demo's audiences, created before ingestion so the pipeline keeps them live from the first event."""
        assert self.app is not None and self.app.host is not None
        if self.deployment is None:
            return
        from shared.segments import store
        from shared.segments.rules import parse_rule
        from shared.settings import get_settings as store_settings

        function = KEY_FUNCTION if KEY_FUNCTION in self.app.host.specs else next(iter(self.app.host.specs))

        def create_missing() -> None:
            existing = {s.name for s in store.list_segments()}
            for name, description, rule in DEMO_SEGMENTS:
                if name not in existing:
                    # created before the first event: there is nobody to evaluate yet, and the segments
                    # function keeps membership live from the first profile on
                    created = store.create_segment(name, parse_rule(rule), description)
                    store.set_status(created, "ready", 0, store_settings())

        self.app.host.call_as(function, create_missing)

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
            if drained and behind != 0 and INGEST_FUNCTION in self.app.host.specs:  # type: ignore[union-attr]
                # an ingest run covers a bounded range; the next one starts where it stopped
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
                .get_item(TableName=table, Key={"pk": {"S": f"CHAIN#{chain_id}"}, "sk": {"S": "CURSOR"}})
                .get("Item")
            )
            if item:
                for name in ("last_block", "cursor", "block"):
                    if name in item and "N" in item[name]:
                        return int(item[name]["N"])
        return None

    def heads(self) -> dict[int, int]:
        import requests

        found: dict[int, int] = {}
        for anvil in self.anvils:
            with contextlib.suppress(Exception):
                result = requests.post(
                    anvil.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}, timeout=5
                ).json()["result"]
                found[anvil.chain_id] = int(result, 16)
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
            line += f", ETA {approximately}{_duration((expected - applied) / rate)})" if expected > applied else ")"
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


def _dump_state(anvil: Anvil) -> None:
    import requests

    if anvil.state_file is None:
        return
    with contextlib.suppress(Exception):
        result = requests.post(
            anvil.url, json={"jsonrpc": "2.0", "id": 1, "method": "anvil_dumpState"}, timeout=60
        ).json()
        # anvil_dumpState answers hex of gzipped JSON; --state also loads that form at start
        if isinstance(result.get("result"), str):
            anvil.state_file.write_text(json.dumps(result["result"]))


def _load_deployment(path: Path) -> Any:
    data = json.loads(path.read_text())
    with contextlib.suppress(ImportError, AttributeError):
        deployment_model = importlib.import_module("infra.simulator").Deployment
        return deployment_model.model_validate(data)
    return data


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
    key = cloud.admin_key or "<no key: shared.auth is missing>"
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
