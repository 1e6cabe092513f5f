"""The API as a user meets it: over HTTP, through the template's authorizer, on ingested chain data."""

from __future__ import annotations

import pytest
import requests

from infra.localcloud.main import LocalCloud

pytestmark = pytest.mark.e2e


def _get(cloud: LocalCloud, path: str, key: str | None = None, **params: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.get(f"{cloud.url}{path}", headers=headers, params=params, timeout=30)


@pytest.fixture(scope="module")
def read_key(cloud: LocalCloud) -> str:
    created = requests.post(
        f"{cloud.url}/keys",
        json={"name": "analyst", "scopes": ["read"]},
        headers={"Authorization": f"Bearer {cloud.admin_key}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    secret: str = created.json()["secret"]
    return secret


def test_without_a_key_every_route_is_401(cloud: LocalCloud) -> None:
    # every route but the API's own description (/openapi.json and /docs, public: see below)
    for path in ("/wallets", "/wallets/0x" + "11" * 20, "/keys", "/chains", "/nowhere"):
        response = _get(cloud, path)
        assert response.status_code == 401, path
        assert response.json()["error"] == "unauthorized"


def test_a_wrong_key_is_401_and_a_read_key_cannot_manage_keys(cloud: LocalCloud, read_key: str) -> None:
    assert _get(cloud, "/wallets", "kith_000000000000_forged").status_code == 401
    denied = _get(cloud, "/keys", read_key)
    assert denied.status_code == 403
    assert denied.json()["error"] == "forbidden"
    assert (
        requests.post(
            f"{cloud.url}/keys",
            json={"name": "x", "scopes": ["admin"]},
            headers={"Authorization": f"Bearer {read_key}"},
            timeout=30,
        ).status_code
        == 403
    )


def test_top_wallets_have_scores_in_descending_order_and_page_with_cursors(cloud: LocalCloud, read_key: str) -> None:
    first = _get(cloud, "/wallets", read_key, limit=10)
    assert first.status_code == 200, first.text
    page = first.json()
    scores = [w["score"] for w in page["items"]]
    assert len(scores) == 10 and all(s > 0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    second = _get(cloud, "/wallets", read_key, limit=10, cursor=page["next_cursor"]).json()
    assert not {w["address"] for w in second["items"]} & {w["address"] for w in page["items"]}


def test_a_tampered_cursor_is_rejected_with_the_field_named(cloud: LocalCloud, read_key: str) -> None:
    cursor = _get(cloud, "/wallets", read_key, limit=2).json()["next_cursor"]
    tampered = cursor[:-3] + ("aaa" if not cursor.endswith("aaa") else "bbb")
    response = _get(cloud, "/wallets", read_key, cursor=tampered)
    assert response.status_code == 400
    assert response.json()["field"] == "cursor"


def test_a_whale_profile_explains_its_score_and_shows_exact_holdings(cloud: LocalCloud, read_key: str) -> None:
    whale = cloud.deployment.personas["whale"][0]
    response = _get(cloud, f"/wallets/{whale}", read_key)
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["address"] == whale.lower()
    assert view["score"] > 0
    assert view["score_explanation"] and abs(sum(c["share"] for c in view["score_explanation"]) - 1) < 0.01
    erc20 = [h for h in view["holdings"] if h["standard"] == "erc20" and int(h["balance"]) > 0]
    assert erc20, "a whale holds the community token"
    timeline = _get(cloud, f"/wallets/{whale}/timeline", read_key, limit=2).json()
    assert len(timeline["items"]) == 2 and timeline["items"][0]["block_time"] >= timeline["items"][1]["block_time"]


def test_bad_input_names_the_field(cloud: LocalCloud, read_key: str) -> None:
    bad = _get(cloud, "/wallets/not-an-address", read_key)
    assert bad.status_code == 422 and bad.json()["field"] == "address"
    unknown = _get(cloud, "/wallets/0x" + "12" * 20, read_key)
    assert unknown.status_code == 404 and unknown.json()["field"] == "address"
    too_many = _get(cloud, "/wallets", read_key, limit=1000)
    assert too_many.status_code == 422 and too_many.json()["field"] == "limit"


def test_openapi_document_is_served_and_matches_the_committed_one(cloud: LocalCloud, read_key: str) -> None:
    import json
    from pathlib import Path

    served = _get(cloud, "/openapi.json", read_key)
    assert served.status_code == 200
    committed = json.loads((Path(__file__).parents[2] / "infra" / "openapi.json").read_text())
    # served through the stage, the document says so, so Swagger UI's "Try it out" keeps /v1 in the URL
    assert served.json()["servers"] == [{"url": "/v1"}] and committed["servers"] == [{"url": "/"}]
    assert {**served.json(), "servers": committed["servers"]} == committed


def test_the_api_description_opens_in_a_browser_without_a_key(cloud: LocalCloud) -> None:
    document = _get(cloud, "/openapi.json")
    assert document.status_code == 200 and document.json()["info"]["title"] == "Kith API"
    page = _get(cloud, "/v1/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '"url": "/v1"' in page.text  # the embedded document points "Try it out" at the stage
    # every other route still needs a key
    assert _get(cloud, "/wallets").status_code == 401


def test_backfill_over_the_api_fans_out_and_reports_progress(cloud: LocalCloud) -> None:
    import time

    headers = {"Authorization": f"Bearer {cloud.admin_key}"}
    bad = requests.post(
        f"{cloud.url}/backfill", json={"chain_id": 31337, "from_block": 9, "to_block": 3}, headers=headers, timeout=30
    )
    assert bad.status_code == 422
    started = requests.post(
        f"{cloud.url}/backfill",
        json={"chain_id": 31337, "from_block": 0, "to_block": 40, "range_size": 10},
        headers=headers,
        timeout=60,
    )
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["total_ranges"] == 5 and job["state"] == "running"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        progress = _get(cloud, f"/backfill/{job['job_id']}", cloud.admin_key).json()
        if progress["done_ranges"] == progress["total_ranges"]:
            break
        time.sleep(1)
    assert progress["done_ranges"] == 5 and progress["progress"] == 1.0
    assert _get(cloud, "/backfill/abcdef", cloud.admin_key).status_code == 404
