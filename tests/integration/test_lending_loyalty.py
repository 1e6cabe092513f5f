"""Loyalty tiers stored with the wallet state, and a tier change published on the bus like a segment
event (moto: profiles applied through the real store, the derivation the segments function runs)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared import intel
from shared.events import Standard, VoteCast
from shared.profiles.store import apply_changes
from shared.segments import wallets
from shared.settings import get_settings
from shared.store.dynamo import client

pytestmark = pytest.mark.integration
VOTER = "0x" + "5e" * 20
GOVERNOR = "0x" + "60" * 20
T0 = 1_700_000_000


def _vote(block: int) -> VoteCast:
    return VoteCast(
        chain_id=31337,
        block_number=block,
        block_hash=f"0x{block:064x}",
        block_time=T0 + block * 60,
        tx_hash=f"0x{block:064x}",
        log_index=0,
        contract=GOVERNOR,
        standard=Standard.GOVERNOR,
        voter=VOTER,
        proposal_id=block,
        support=1,
        weight=10,
    )


@pytest.fixture
def bus_queue(deployed: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A bus whose every kith.segments event lands in a queue the test reads."""
    events, sqs = client("events"), client("sqs")
    bus = f"lending-test-{deployed.app_table[-8:]}"
    events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName=f"{bus}-q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName=bus, EventPattern=json.dumps({"source": ["kith.segments"]}))
    events.put_targets(Rule="all", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    monkeypatch.setenv("EVENT_BUS_NAME", bus)
    tiers = [{"name": "member", "min_points": 0}, {"name": "citizen", "min_points": 25}]
    monkeypatch.setenv("KITH_LOYALTY", json.dumps({"version": 3, "points_per_vote": 10, "tiers": tiers}))
    get_settings.cache_clear()
    return str(queue_url)


def _published(queue_url: str) -> list[dict[str, Any]]:
    messages = client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_a_tier_change_is_stored_and_published_once(bus_queue: str) -> None:
    # Given a wallet with two votes (20 points: member)
    settings = get_settings()
    apply_changes([(None, _vote(1)), (None, _vote(2))], settings)
    wallets.evaluate_wallets([VOTER], settings)
    state = intel.load_wallet(VOTER, settings)
    assert state is not None and state.state is not None
    assert (state.state.tier, state.state.loyalty_points, state.state.loyalty_version) == ("member", 20.0, 3)
    assert [e for e in _published(bus_queue) if e["detail-type"] == "tier.changed"] == []

    # When a third vote lifts it to 30 points, and the wallet is derived again, twice
    apply_changes([(None, _vote(3))], settings)
    wallets.evaluate_wallets([VOTER], settings)
    wallets.evaluate_wallets([VOTER], settings)

    # Then the state carries the new tier, and exactly one tier.changed names both tiers and the formula
    loaded = intel.load_wallet(VOTER, settings)
    assert loaded is not None and loaded.state is not None and loaded.state.tier == "citizen"
    changes = [e for e in _published(bus_queue) if e["detail-type"] == "tier.changed"]
    assert len(changes) == 1
    detail = changes[0]["detail"]
    assert (detail["address"], detail["from_tier"], detail["to_tier"]) == (VOTER, "member", "citizen")
    assert detail["points"] == 30.0 and detail["formula_version"] == 3
