"""The nightly churn refit against the real store (moto): it stores the risk layer, threshold, percentiles
and a backtest with the model version; the wallet state and GET /wallets carry the risk; the sweep flips a
wallet to at_risk when its risk crosses the threshold; and the backtest CLI reports on the same data."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest

from shared import churn, intel, wallets
from shared.cli import main
from shared.events import ChainEvent, Standard, VoteCast
from shared.profiles.store import apply_changes
from shared.segments import wallets as segment_wallets
from shared.settings import get_settings
from shared.store import dynamo, keys

pytestmark = pytest.mark.integration
GOVERNOR = "0x" + "60" * 20
DAY = churn.DAY
N_WALLETS = 60
HISTORY_DAYS = 240


def _community(now: int) -> dict[str, list[int]]:
    """Wallets voting on a few days each: joiners spread over the history, some regular, some gone quiet."""
    rng = np.random.default_rng(17)
    first_day = now // DAY - HISTORY_DAYS
    days: dict[str, list[int]] = {}
    for i in range(N_WALLETS):
        address = f"0x{i + 1:040x}"
        join = first_day + int(rng.integers(0, HISTORY_DAYS - 60))
        rate = float(rng.gamma(1.5, 1 / 10))  # events a day while alive
        stop = join + int(rng.exponential(120))
        active, day = {join}, float(join)
        while True:
            day += rng.exponential(1 / rate)
            if day >= min(stop, now // DAY):
                break
            active.add(int(day))
        days[address] = sorted(active)
    return days


def _votes(days: dict[str, list[int]]) -> list[tuple[ChainEvent | None, ChainEvent | None]]:
    events = []
    block = 0
    for address, active in days.items():
        for day in active:
            block += 1
            events.append(
                VoteCast(
                    chain_id=31337,
                    block_number=block,
                    block_hash=f"0x{block:064x}",
                    block_time=day * DAY + 3_600,
                    tx_hash=f"0x{block:064x}",
                    log_index=0,
                    contract=GOVERNOR,
                    standard=Standard.GOVERNOR,
                    voter=address,
                    proposal_id=block,
                    support=1,
                    weight=1,
                )
            )
    events.sort(key=lambda e: e.block_time)
    for number, event in enumerate(events, start=1):  # chain order is time order
        events[number - 1] = event.model_copy(update={"block_number": number, "block_hash": f"0x{number:064x}"})
    return [(None, e) for e in events]


@pytest.fixture
def community(deployed: Any) -> tuple[int, dict[str, list[int]]]:
    now = int(time.time())
    days = _community(now)
    apply_changes(_votes(days), get_settings())
    return now, days


def test_the_refit_stores_the_risk_and_a_backtest_and_the_sweep_flags_at_the_crossing(
    community: tuple[int, dict[str, list[int]]],
) -> None:
    now, days = community
    settings = get_settings()

    # When the nightly refit runs
    model = intel.refit_churn_model(settings, now)

    # Then the stored version carries the risk layer, the threshold, the percentiles and a backtest
    stored = intel.load_churn_model(settings)
    assert stored == model and stored.version == 2
    assert stored.horizon_days == 30 and stored.risk_threshold is not None and stored.risk_knots is not None
    assert stored.backtest is not None and stored.backtest.horizon_days == 30
    assert stored.backtest.n_wallets > 0 and len(stored.backtest.calibration) == 10
    print(f"\nbacktest on the moto community: {stored.backtest.model_dump_json()}")

    # And evaluating the wallets stores each one's risk, percentile and crossing date
    addresses = sorted(days)
    segment_wallets.evaluate_wallets(addresses, settings)
    loaded = [intel.load_wallet(a, settings) for a in addresses]
    states = {a: i.state for a, i in zip(addresses, loaded, strict=True) if i is not None and i.state is not None}
    assert len(states) == N_WALLETS
    assert all(s.churn_risk is not None for s in states.values())
    percentiles = [s.churn_risk_percentile for s in states.values()]
    assert all(p is not None and 0 <= p <= 100 for p in percentiles)

    # And a wallet that will cross the threshold before it turns dormant is due at the crossing
    dormant_after = settings.labels.dormant_days * DAY
    upcoming = [
        a
        for a, s in states.items()
        if s.churn_state == "active"
        and s.churn_risk_due is not None
        and now < s.churn_risk_due < max(days[a]) * DAY + dormant_after
    ]
    assert upcoming, "the simulated community has a wallet about to be at risk"
    wallet = upcoming[0]
    state = states[wallet]
    due = state.churn_risk_due
    assert due is not None and state.due is not None and state.due <= due
    assert wallet in intel.due_wallets(due, settings, limit=10_000)

    # When the sweep runs at the crossing, the wallet is at risk; the read model agrees
    segment_wallets.sweep(settings, now=due + 1)
    after = intel.load_wallet(wallet, settings)
    assert after is not None and after.state is not None
    assert after.state.churn_state == "at_risk"
    view = wallets.wallet_view(wallet, settings, now=due + 1)
    assert view is not None and view.churn_risk is not None
    # The view shows six decimals, and rounding keeps order: at the crossing the risk may equal the threshold
    assert view.churn_risk >= round(stored.risk_threshold, 6)
    assert view.churn_risk_horizon_days == 30 and view.churn_risk_due == due


def test_the_backtest_cli_reports_on_the_stored_activity(
    community: tuple[int, dict[str, list[int]]], capsys: pytest.CaptureFixture[str]
) -> None:
    now, _ = community
    cut = time.strftime("%Y-%m-%d", time.gmtime(now - 60 * DAY))
    assert main(["churn", "backtest", "--cut", cut, "--horizon-days", "30"]) == 0
    report = capsys.readouterr().out
    assert f"cut {cut}, horizon 30 days" in report and "AUC" in report and "calibration" in report
    assert main(["churn", "backtest", "--cut", cut, "--json"]) == 0
    result = churn.ChurnBacktest.model_validate(json.loads(capsys.readouterr().out))
    assert result.cut == (now // DAY - 60) * DAY
    assert len(result.calibration) == 10 and result.auc is not None


def test_the_backtest_cli_refuses_bad_input_in_one_line() -> None:
    for argv in (["--cut", "yesterday"], ["--cut", "2999-01-01"], ["--cut", "2020-01-01", "--horizon-days", "0"]):
        completed = subprocess.run(
            [sys.executable, "-m", "shared.cli", "churn", "backtest", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 2, argv
        assert completed.stdout == ""
        assert completed.stderr.count("\n") == 1 and completed.stderr.startswith("error: "), completed.stderr


def _get(path: str) -> tuple[int, dict[str, Any]]:
    """One GET through the API application, as the gateway hands it over for a read-scoped key."""
    from shared.api.app import build_app

    event = {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"Accept": "application/json"},
        "multiValueHeaders": {"Accept": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": "GET",
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": "churn-route",
            "authorizer": {"principalId": "test", "key_id": "test", "scopes": "read"},
        },
        "body": None,
        "isBase64Encoded": False,
    }
    response = build_app().resolve(event, None)
    return response["statusCode"], json.loads(response["body"])


def test_the_api_shows_the_model_its_calibration_and_each_wallets_risk(
    community: tuple[int, dict[str, list[int]]],
) -> None:
    now, days = community
    intel.refit_churn_model(get_settings(), now)

    status, body = _get("/churn/model")
    assert status == 200, body
    assert body["version"] == 2 and body["horizon_days"] == 30 and body["risk_threshold"] is not None
    assert len(body["risk_deciles"]) == 11 and body["risk_deciles"] == sorted(body["risk_deciles"])
    assert len(body["backtest"]["calibration"]) == 10 and body["backtest"]["auc"] is not None
    assert body["layer"]["alive_logit"] >= 0 and "regularity" in body["layer"]
    assert body["configured_horizon_days"] == 30
    assert body["backtest"]["flag_base_rate"] is not None

    status, view = _get(f"/wallets/{sorted(days)[0]}")
    assert status == 200, view
    assert 0 <= view["churn_risk"] <= 1 and 0 <= view["churn_risk_percentile"] <= 100
    assert view["churn_risk_horizon_days"] == 30

    item = dynamo.client("dynamodb").get_item(
        TableName=get_settings().app_table, Key=dynamo.to_item(keys.churn_model_key(2))
    )
    assert "Item" in item  # the version is kept beside the latest


def test_the_horizon_setting_drives_the_refit_the_backtest_and_the_api(
    community: tuple[int, dict[str, list[int]]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    now, days = community
    monkeypatch.setenv("KITH_LABELS", json.dumps({"churn_horizon_days": 45}))
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.labels.churn_horizon_days == 45

    model = intel.refit_churn_model(settings, now)

    assert model.horizon_days == 45 and model.backtest is not None and model.backtest.horizon_days == 45
    assert model.layer is not None and model.layer.trained_horizon_days == 45
    status, body = _get("/churn/model")
    assert status == 200 and body["horizon_days"] == 45 and body["configured_horizon_days"] == 45
    status, view = _get(f"/wallets/{sorted(days)[0]}")
    assert status == 200 and view["churn_risk_horizon_days"] == 45
    # the CLI's backtest defaults to the setting too
    cut = time.strftime("%Y-%m-%d", time.gmtime(now - 60 * DAY))
    assert main(["churn", "backtest", "--cut", cut, "--json"]) == 0
    assert churn.ChurnBacktest.model_validate(json.loads(capsys.readouterr().out)).horizon_days == 45


def test_a_horizon_that_is_not_positive_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.settings import ConfigError, settings_from_env

    monkeypatch.setenv("KITH_LABELS", json.dumps({"churn_horizon_days": 0}))
    with pytest.raises(ConfigError, match="churn_horizon_days"):
        settings_from_env()
