"""Campaigns over HTTP on the simulated community: the demo win-back webhooks land at the local
receiver, and a broadcast with a 50% holdout measures a known simulated effect."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from infra.localcloud.main import DEMO_CAMPAIGN, LocalCloud
from infra.simulator.txs import Rpc, mine_transfers
from shared.campaigns.dispatch import arm_for
from shared.campaigns.model import Campaign
from shared.store import keys
from tests.support.local_api import admin_call as _call
from tests.support.local_api import wait_for as _wait

pytestmark = [pytest.mark.e2e, pytest.mark.moves_chain]


def test_the_demo_win_back_campaign_delivered_one_signed_webhook_per_treated_wallet(cloud: LocalCloud) -> None:
    assert cloud.sinks is not None
    campaign = next(c for c in _call(cloud, "GET", "/campaigns")["items"] if c["name"] == DEMO_CAMPAIGN)
    cloud.drain(timeout=120)
    report = _call(cloud, "GET", f"/campaigns/{campaign['campaign_id']}/report")
    deliveries = cloud.sinks.deliveries("/webhook/win-back")
    addresses = [d["body"]["address"] for d in deliveries]
    assert report["treatment"]["targeted"] > 0
    assert len(addresses) == len(set(addresses)) == report["treatment"]["delivered"] == report["treatment"]["targeted"]
    assert all(d["signature_valid"] for d in deliveries)
    # and no wallet was messaged for a state it never held: the catch-up replayed months of history, and
    # between two of its events a wallet looked inactive; every wallet messaged is drifting away now
    segment_id = campaign["trigger"]["segment_id"]
    held = [_call(cloud, "GET", f"/segments/{segment_id}/members/{a}")["member"] for a in addresses]
    assert all(held), f"{held.count(False)} of {len(held)} wallets messaged are not drifting away"


def test_a_broadcast_with_a_holdout_measures_the_simulated_effect(cloud: LocalCloud) -> None:
    # Given a community at rest (the tests before may have moved the chain or backfilled a contract, and a
    # wallet scored after the send would join the segment without being in the campaign's audience)
    assert cloud.deployment is not None
    cloud.catch_up(timeout=300)
    # and every wallet that ever held something, and a broadcast to them with a 50% holdout
    # whose conversion is receiving the community token within 14 days
    chain = cloud.deployment.chain(31337)
    token = chain.contracts["token"]
    segment = _call(
        cloud,
        "POST",
        "/segments",
        expect=201,
        json={
            "name": "Everyone scored",
            "rule": {"match": {"type": "field", "field": "score", "op": "gte", "value": 0}},
        },
    )
    segment_id = segment["definition"]["segment_id"]
    _wait(lambda: _call(cloud, "GET", f"/segments/{segment_id}")["evaluation"]["state"] == "done", 300, "evaluation")
    campaign = _call(
        cloud,
        "POST",
        "/campaigns",
        expect=201,
        json={
            "name": "Claim your bonus",
            "segment_id": segment_id,
            "channel": "webhook",
            "webhook_url": cloud.sinks.webhook_url("bonus") if cloud.sinks else "",
            "holdout_pct": 50,
            "template": {"body": "claim it, {{ address }}"},
            "conversion": {"action": "transfer_in", "chain_id": 31337, "contract": token, "window_days": 14},
        },
    )
    _call(cloud, "POST", f"/campaigns/{campaign['campaign_id']}/send", expect=202)
    report = _wait(
        lambda: (r := _call(cloud, "GET", f"/campaigns/{campaign['campaign_id']}/report"))["dispatch"]["done"] and r,
        300,
        "dispatch",
    )
    frozen = Campaign.model_validate(_call(cloud, "GET", f"/campaigns/{campaign['campaign_id']}"))
    members = _members(cloud, segment_id)
    audience = _frozen_audience(cloud, campaign["campaign_id"])
    # the audience is the members less those screened out (other tests erase a whale, and cap by frequency),
    # each in the arm the campaign's hash gives it
    assert set(audience) <= members
    assert len(members) - len(audience) == sum(report["skipped_reasons"].values())
    assert audience == {a: arm_for(frozen, a) for a in audience}
    # When treated wallets act at 70% and held-out ones at 30% (an effect of 0.40). Each group converts exactly
    # its share, so the arms the campaign's random id draws cannot move the estimate off 0.40 by chance;
    # screened-out members act too, and the report must not credit them
    rng = random.Random(20261122)
    groups: dict[str, list[str]] = {}
    for address in sorted(members):
        group = audience.get(address, "screened-out " + arm_for(frozen, address))
        groups.setdefault(group, []).append(address)
    converters: list[str] = []
    for group, addresses in sorted(groups.items()):
        rng.shuffle(addresses)
        converters += addresses[: round((0.7 if group.endswith("treatment") else 0.3) * len(addresses))]
    head = Rpc(chain.rpc_url).call("eth_getBlockByNumber", ["latest", False])
    at = max(int(head["timestamp"], 16) + 1, int(time.time()) + 5)
    mine_transfers(chain.rpc_url, token, [(chain.contracts["treasury"], a, 10**18) for a in converters], timestamp=at)
    cloud.catch_up(timeout=300)
    # Then the report credits exactly the audience's conversions to each arm, and its interval covers 0.40
    report = _call(cloud, "GET", f"/campaigns/{campaign['campaign_id']}/report")
    targeted = {"treatment": report["treatment"]["targeted"], "holdout": report["holdout"]["targeted"]}
    assert targeted == {arm: sum(1 for a in audience.values() if a == arm) for arm in targeted}
    assert report["treatment"]["converted"] == sum(audience.get(a) == "treatment" for a in converters)
    assert report["holdout"]["converted"] == sum(audience.get(a) == "holdout" for a in converters)
    lift = report["lift"]
    assert lift["ci95_low"] <= 0.40 <= lift["ci95_high"]
    assert lift["ci95_low"] > 0  # and the effect is detected


def _members(cloud: LocalCloud, segment_id: str) -> set[str]:
    found: set[str] = set()
    cursor = None
    while True:
        page = _call(
            cloud,
            "GET",
            f"/segments/{segment_id}/members",
            params={"limit": 100, **({"cursor": cursor} if cursor else {})},
        )
        found |= {m["address"] for m in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            return found


def _frozen_audience(cloud: LocalCloud, campaign_id: str) -> dict[str, str]:
    """The campaign's frozen audience, address -> arm, as the dispatch wrote it (its TARGET# items)."""
    assert cloud.app is not None
    dynamodb = cloud.app.client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": cloud.app.physical["AppTable"],
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :target)",
        "ExpressionAttributeValues": {
            ":pk": {"S": keys.campaign_pk(campaign_id)},
            ":target": {"S": keys.TARGET_PREFIX},
        },
    }
    audience: dict[str, str] = {}
    while True:
        page = dynamodb.query(**kwargs)
        for item in page["Items"]:
            address = item["sk"]["S"].removeprefix(keys.TARGET_PREFIX).split("#")[0]
            audience[address] = item["arm"]["S"]
        if "LastEvaluatedKey" not in page:
            return audience
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
