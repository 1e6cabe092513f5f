"""The acceptance run: the simulator moves prices and liquidates; every threshold crossing alerts exactly
once, health factors are the pool's own, and liquidated wallets are marked (anvil + moto)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.localcloud.anvil import Anvil
from infra.localcloud.template import Template
from infra.simulator import simulate
from infra.simulator.txs import Rpc, encode_call
from shared.api.lending_view import lending_view
from shared.chain.codec import event_from_item
from shared.events import LendingEvent, PriceUpdate
from shared.ingest import ingest_chain
from shared.lending.model import AccountData, band_of
from shared.lending.store import load_alerts, load_health_records
from shared.lending.stream import process_images
from shared.profiles.stream import apply_images as apply_profiles
from shared.settings import ChainConfig, TrackedContract, get_settings
from shared.store.dynamo import client
from tests.integration.test_lending_health import StreamReader
from tests.support.ingest_chain import fast_options, scan_items

pytestmark = pytest.mark.integration
ORDER = ["safe", "warn", "urgent", "critical"]
BATCH_SIZE = 500  # the HealthFunction mapping's BatchSize


def reference_alerts(bands: list[str]) -> list[str]:
    """Alerts of a band sequence as the issue states them: a fall into a band alerts once, and that band
    re-arms only after a recovery to safe."""
    alerts: list[str] = []
    previous, latched = "safe", set()
    for band in bands:
        if band == "safe":
            latched = set()
        elif ORDER.index(band) > ORDER.index(previous) and band not in latched:
            alerts.append(band)
            latched |= set(ORDER[1 : ORDER.index(band) + 1])
        previous = band
    return alerts


def test_the_simulated_community_gets_one_alert_per_crossing_and_its_liquidations_marked(
    anvil_chain: Anvil, deployed: Any, template: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a month of the simulated community (prices drifting, positions liquidated), pool and oracle tracked
    deployment = simulate([anvil_chain.url], wallets=60, days=30, seed=7)
    chain = deployment.chains[0]
    contracts = [
        TrackedContract(address=chain.contracts[role], standard=chain.standards[role], start_block=chain.start_block)
        for role in ("pool", "oracle")
    ]
    config = ChainConfig(chain_id=chain.chain_id, rpc_url=chain.rpc_url, contracts=contracts, max_range=2000)
    monkeypatch.setenv("KITH_CHAINS", json.dumps([config.model_dump(mode="json")]))
    monkeypatch.setenv("KITH_LENDING", json.dumps({"alert_min_interval_s": 0}))
    bus = client("events").create_event_bus(Name=f"{deployed.app_table}-bus")["EventBusArn"].split("/")[-1]
    monkeypatch.setenv("EVENT_BUS_NAME", bus)  # lending.band alerts are published there
    get_settings.cache_clear()
    settings = get_settings()
    stream = StreamReader(deployed.events_table, template, "HealthFunction")

    # When it is ingested and the stream is delivered to profiles and, in mapping-sized batches, to health
    ingest_chain(config, settings, fast_options())
    everything, batch = stream.read()
    apply_profiles(((r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in everything), settings)
    for start in range(0, len(batch), BATCH_SIZE):
        chunk = batch[start : start + BATCH_SIZE]
        process_images(((r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in chunk), settings)

    # Then, for every borrower, the alerts are exactly the crossings of its bands, read from the pool itself
    # at every block where a price or its own position moved
    events = [event_from_item(i) for i in scan_items(deployed.events_table)]
    price_blocks = {e.block_number for e in events if isinstance(e, PriceUpdate)}
    own_blocks: dict[str, set[int]] = {}
    for e in events:
        if isinstance(e, LendingEvent) and e.action != "reserve_data_updated":
            own_blocks.setdefault(e.user, set()).add(e.block_number)
    borrowers = sorted({e.user for e in events if isinstance(e, LendingEvent) and e.action == "borrow"})
    assert len(borrowers) >= 5 and price_blocks
    rpc = Rpc(chain.rpc_url)
    crossed = 0
    for user in borrowers:
        first = min(own_blocks[user])
        blocks = sorted(b for b in price_blocks | own_blocks[user] if b >= first)
        answers = rpc.batch(
            [
                (
                    "eth_call",
                    [{"to": chain.contracts["pool"], "data": encode_call("getUserAccountData(address)", user)}, hex(b)],
                )
                for b in blocks
            ]
        )
        bands = [band_of(AccountData.decode(a).health_factor, settings.lending) for a in answers]
        expected = reference_alerts(bands)
        stored = [a["band"] for a in sorted(load_alerts(user, settings), key=lambda a: a["seq"])]
        assert stored == expected, user
        crossed += bool(expected)
        # and the stored health factor is the pool's at the block it was computed at
        (record,) = load_health_records(user, settings)
        truth = rpc.call(
            "eth_call",
            [
                {"to": chain.contracts["pool"], "data": encode_call("getUserAccountData(address)", user)},
                hex(record.block),
            ],
        )
        assert record.health_factor_wad == str(AccountData.decode(truth).health_factor), user
    assert crossed >= 2  # the story has wallets drifting toward liquidation

    # and the liquidated personas, and only they among borrowers, are marked liquidated
    liquidated = set(deployment.personas["liquidated"])
    assert liquidated
    for user in borrowers:
        view = lending_view(user, settings)
        assert view is not None and view.liquidated == (user in liquidated), user
