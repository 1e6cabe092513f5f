"""The CRM side of the API over HTTP: contacts with consent, CSV import, erasure, tags, filtered
wallet listings, segment previews and CSV exports, on the simulated community."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import boto3
import pytest
import requests

from infra.localcloud.main import LocalCloud
from tests.support.local_api import admin_call as _call

pytestmark = pytest.mark.e2e


def _whales(cloud: LocalCloud) -> list[str]:
    return [w["address"] for w in _call(cloud, "GET", "/wallets", params={"label": "whale", "limit": 100})["items"]]


def _all_items_text(cloud: LocalCloud) -> str:
    dynamodb = boto3.client("dynamodb", endpoint_url=cloud.endpoint_url, region_name="us-east-1")
    assert cloud.app is not None
    dumped = []
    for logical in sorted(name for name in cloud.app.physical if name.endswith("Table")):  # every table
        kwargs: dict[str, Any] = {"TableName": cloud.app.physical[logical]}
        while True:
            page = dynamodb.scan(**kwargs)
            dumped.append(json.dumps(page["Items"]))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return "\n".join(dumped).lower()


def test_filters_select_by_label_churn_state_token_and_score(cloud: LocalCloud) -> None:
    # Given the simulated community
    whales = _whales(cloud)
    assert whales, "the simulation has whales"
    # Then every listed whale carries the label in its own profile, and the listing is score-ordered
    for address in whales[:3]:
        assert "whale" in _call(cloud, "GET", f"/wallets/{address}")["labels"]
    dormant = _call(cloud, "GET", "/wallets", params={"churn_state": "dormant", "limit": 100})["items"]
    assert all(_call(cloud, "GET", f"/wallets/{w['address']}")["churn_state"] == "dormant" for w in dormant[:3])
    scored = _call(cloud, "GET", "/wallets", params={"min_score": 10, "limit": 100})["items"]
    assert scored and all(w["score"] >= 10 for w in scored)
    # And sorting by a token's balance lists its holders, largest first
    token = next(
        f"{h['chain_id']}:{h['contract']}"
        for h in _call(cloud, "GET", f"/wallets/{whales[0]}")["holdings"]
        if h["standard"] == "erc20"
    )
    holders = _call(cloud, "GET", "/wallets", params={"token": token, "sort": "balance", "limit": 10})["items"]
    balances = [
        next(
            int(h["balance"])
            for h in _call(cloud, "GET", f"/wallets/{w['address']}")["holdings"]
            if f"{h['chain_id']}:{h['contract']}" == token
        )
        for w in holders
    ]
    assert balances == sorted(balances, reverse=True) and balances[0] > 0
    # And bad filters are named
    bad = requests.get(
        f"{cloud.url}/wallets",
        params={"sort": "balance"},
        headers={"Authorization": f"Bearer {cloud.admin_key}"},
        timeout=30,
    )
    assert bad.status_code == 422 and bad.json()["field"] == "token"


def test_tags_are_added_listed_and_removed(cloud: LocalCloud) -> None:
    wallet = _whales(cloud)[0]
    assert _call(cloud, "POST", f"/wallets/{wallet}/tags", json={"tags": ["vip", "met at ETHDenver"]})["tags"] == [
        "met at ETHDenver",
        "vip",
    ]
    assert [w["address"] for w in _call(cloud, "GET", "/wallets", params={"tag": "vip"})["items"]] == [wallet]
    assert "vip" in _call(cloud, "GET", f"/wallets/{wallet}")["tags"]
    assert _call(cloud, "DELETE", f"/wallets/{wallet}/tags/vip")["tags"] == ["met at ETHDenver"]
    _call(cloud, "DELETE", f"/wallets/{wallet}/tags/vip", expect=404)
    bad = _call(cloud, "POST", f"/wallets/{wallet}/tags", expect=422, json={"tags": ["<script>"]})
    assert bad["field"].startswith("tags")


def test_preview_counts_like_the_live_segment_and_export_lists_its_members(cloud: LocalCloud) -> None:
    segments = {s["name"]: s for s in _call(cloud, "GET", "/segments")["items"]}
    whales = segments["Whales"]
    # When the Whales rule is previewed without saving
    preview = _call(cloud, "POST", "/segments/preview", json={"rule": whales["rule"], "sample_size": 5})
    # Then it counts what the live segment holds, and samples members of it
    assert preview["complete"] and preview["count"] == whales["members"]
    live = {
        r["address"]
        for r in csv.DictReader(io.StringIO(_call(cloud, "GET", f"/segments/{whales['segment_id']}/members.csv").text))
    }
    assert len(live) == whales["members"] and set(preview["sample"]) <= live


def test_contacts_link_import_and_erase_without_a_trace(cloud: LocalCloud) -> None:
    wallet, other = _whales(cloud)[0], _call(cloud, "GET", "/wallets", params={"limit": 50})["items"][-1]["address"]
    # Given a contact created by API and one imported from CSV with a bad row
    created = _call(
        cloud,
        "POST",
        "/contacts",
        expect=201,
        json={
            "name": "Wanda Whale",
            "email": "wanda@example.org",
            "discord": "wanda_w",
            "wallets": [wallet],
            "consent": {"email": True},
        },
    )
    report = _call(
        cloud,
        "POST",
        "/contacts/import",
        json={
            "csv": f"wallet,email,consent\n{other},otto@example.org,email;xmtp\n0xnope,bad@example.org,email\n",
            "source": "allowlist",
        },
    )
    assert (report["created"], [(e["row"], e["field"]) for e in report["errors"]]) == (1, [(3, "wallets")])
    # Then the wallet view shows its contact with consent
    view = _call(cloud, "GET", f"/wallets/{wallet}")
    assert [c["email"] for c in view["contacts"]] == ["wanda@example.org"] and view["contacts"][0]["consent"]["email"]
    duplicate = _call(cloud, "POST", "/contacts", expect=409, json={"email": "wanda@example.org", "wallets": [other]})
    assert duplicate["field"] == "email"
    # When the contact is erased
    erased = _call(cloud, "DELETE", f"/contacts/{created['contact_id']}")
    assert erased["suppressions_added"] == 3
    # Then no table holds its personal data, and it cannot come back by import or by API
    text = _all_items_text(cloud)
    for personal in ("wanda@example.org", "wanda_w", "wanda whale", created["contact_id"]):
        assert personal not in text
    assert _call(cloud, "GET", f"/wallets/{wallet}")["contacts"] == []
    again = _call(cloud, "POST", "/contacts/import", json={"csv": f"wallet,email\n{other},wanda@example.org\n"})
    assert again["created"] == 0 and again["errors"][0]["field"] == "email"
    refused = _call(cloud, "POST", "/contacts", expect=409, json={"email": "new@example.org", "wallets": [wallet]})
    assert "suppressed" in refused["message"]
    _call(cloud, "GET", f"/contacts/{created['contact_id']}", expect=404)
    # And ingesting more blocks does not bring anything back
    cloud.catch_up(timeout=300)
    assert "wanda@example.org" not in _all_items_text(cloud)
