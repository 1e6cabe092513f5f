"""The demo the local cloud runs: a simulated community on the chains, an admin key, demo segments and a campaign.

Bootstrap code runs in process with the API function's environment (it owns the keys), through the
FunctionHost, exactly as the function would; see docs/architecture.md, "The local cloud".
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.localcloud.anvil import Anvil
from infra.localcloud.app import LocalApp
from infra.localcloud.sinks import LocalSinks
from infra.localcloud.state import (
    DEPLOYMENT_FILE,
    LocalCloudError,
    chains_match,
    dump_state,
    load_deployment,
    sync_clock,
)
from shared.auth.manage import create_api_key
from shared.campaigns import store as campaigns
from shared.campaigns.model import CampaignCreate
from shared.segments import store
from shared.segments.rules import parse_rule
from shared.settings import get_settings as store_settings

KEY_FUNCTION = "ApiFunction"  # bootstrap code runs with the API's environment (it owns the keys)

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


def load_or_simulate(state_dir: Path, anvils: list[Anvil], config: Any, progress: Callable[[str], None]) -> Any:
    """The simulated community saved in `state_dir` if the chains still hold it, else a new simulation."""
    saved = state_dir / DEPLOYMENT_FILE
    if saved.exists() and chains_match(saved, anvils):
        progress("reusing the simulated community from .state/")
        _sync_clocks(anvils)
        return load_deployment(saved)
    if not config.simulate:
        return None
    try:
        # imported by name: the simulator is developed alongside and may not exist yet
        simulate = importlib.import_module("infra.simulator").simulate
    except (ImportError, AttributeError) as exc:
        raise LocalCloudError(f"the community simulator is not available ({exc})") from None
    progress(f"simulating {config.wallets} wallets over {config.days} days")

    def report(step: Any) -> None:
        # the simulator reports a Progress(day, days, transactions, events, elapsed) tuple
        day, days = getattr(step, "day", "?"), getattr(step, "days", config.days)
        progress(f"simulating: day {day}/{days}, {getattr(step, 'transactions', 0)} transactions")

    try:
        deployment = simulate(
            rpc_urls=[a.url for a in anvils],
            wallets=config.wallets,
            days=config.days,
            seed=config.seed,
            out=saved,
            progress=report,
        )
    except ValueError as exc:
        raise LocalCloudError(f"the community simulation failed: {exc}") from exc
    if not saved.exists():
        data = deployment.model_dump(mode="json") if hasattr(deployment, "model_dump") else deployment
        saved.write_text(json.dumps(data, indent=2))
    # anvil writes --state only on exit; dump now so a crash does not lose the simulation
    _sync_clocks(anvils)
    for anvil in anvils:
        dump_state(anvil)
    return deployment


def _sync_clocks(anvils: list[Anvil]) -> None:
    for anvil in anvils:
        sync_clock(anvil.url)


def _key_function(app: LocalApp) -> str:
    assert app.host is not None
    return KEY_FUNCTION if KEY_FUNCTION in app.host.specs else next(iter(app.host.specs))


def create_admin_key(app: LocalApp, state_dir: Path) -> tuple[str, str]:
    """(key id, key) of a new admin API key, also written to `state_dir`/admin-key."""
    assert app.host is not None
    key_id, key = app.host.call_as(_key_function(app), lambda: create_api_key("local admin", ["admin"]))
    (state_dir / "admin-key").write_text(key + "\n")
    return key_id, key


def segment_ids(app: LocalApp | None) -> dict[str, str]:
    """Segment name -> id, read with the API function's environment."""
    if app is None or app.host is None:
        return {}
    segments: list[Any] = app.host.call_as(_key_function(app), lambda: store.list_segments(store_settings()))
    return {s.name: s.segment_id for s in segments}


def create_demo_segments(app: LocalApp) -> None:
    """The demo's audiences, created before ingestion so the pipeline keeps them live from the first event."""
    assert app.host is not None

    def create_missing() -> None:
        settings = store_settings()
        existing = {s.name for s in store.list_segments(settings)}
        for name, description, rule in DEMO_SEGMENTS:
            if name not in existing:
                # created before the first event: there is nobody to evaluate yet, and the segments
                # function keeps membership live from the first profile on
                created = store.create_segment(name, parse_rule(rule), settings, description)
                store.set_status(created, "ready", 0, settings)

    app.host.call_as(_key_function(app), create_missing)


def create_demo_campaign(app: LocalApp, sinks: LocalSinks) -> None:
    """A win-back campaign on "Drifting away": each wallet that drifts gets a signed webhook."""
    assert app.host is not None
    segment_id = segment_ids(app).get("Drifting away")
    if segment_id is None:
        return
    body = CampaignCreate.model_validate(
        {
            "name": DEMO_CAMPAIGN,
            "channel": "webhook",
            "webhook_url": sinks.webhook_url("win-back"),
            "template": {"body": "gm {{ address }}: we miss you. Your score is {{ score }}; come back?"},
            "holdout_pct": 10,
            "trigger": {"event": "segment.entered", "segment_id": segment_id, "cooldown_days": 30},
            "conversion": {"action": "transfer_in", "window_days": 14},
        }
    )

    def create_missing() -> None:
        settings = store_settings()
        if not any(c.name == DEMO_CAMPAIGN for c in campaigns.list_campaigns(settings)):
            campaigns.create_campaign(body, settings)

    app.host.call_as(_key_function(app), create_missing)
