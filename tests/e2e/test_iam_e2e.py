"""Least privilege, measured: every AWS call each function made during the e2e session is allowed by its
role in template.yaml, and every statement the template writes for a role allowed some call.

The local cloud recorded each call (infra.localcloud.calls) as the IAM requests AWS authorises for it:
the action, the resource ARN and the condition keys the roles test. @cloud-copilot/iam-simulate judges
each against the function's whole role: the template's statements, the ones SAM adds (failure
destinations) and the AWS managed policies SAM attaches (logs, X-Ray, event-source polling). Calls an
event-source poller makes outside an invocation count for the function it feeds, since Lambda makes them
with that function's role. These tests run after every other e2e test, on what the whole session did.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.localcloud.calls import Recorder
from infra.localcloud.main import LocalCloud
from infra.simulator.txs import BatchSender, Rpc, Tx, encode_call
from tests.support.iam_calls import Audit, Snapshot, audit
from tests.support.local_api import admin_request as _call
from tests.support.local_api import wait_for as _wait

pytestmark = [pytest.mark.e2e, pytest.mark.reads_aws_calls]

E2E = Path(__file__).parent

# Statements no e2e call can use, each with the path that needs it. Keyed by (function, statement label:
# its actions and resources by logical id); an entry whose statement is gone, or that a call now uses,
# fails the test, so the list stays exactly as long as it must.
_RPC_IN_SSM = (
    "in AWS a chain's RPC URL (with its provider key) lives only in an SSM SecureString; the local cloud "
    "seeds its anvil chains with their URLs directly (rpc_url), so no local call reads kith/rpc/*"
)
UNUSED_BY_DESIGN: dict[tuple[str, str], str] = {
    ("AirdropClaimsFunction", "dynamodb:BatchWriteItem on AppTable"): (
        "the demo community tracks no Merkle distributor, so no Claimed log reaches the claims function in the "
        "e2e run; tests/integration/test_airdrop_claims.py drives it on anvil"
    ),
    ("ApiFunction", "ssm:GetParameter on parameter/${RpcParameterPrefix}/*"): _RPC_IN_SSM,
    ("BackfillFunction", "ssm:GetParameter on parameter/${RpcParameterPrefix}/*"): _RPC_IN_SSM,
    ("HealthFunction", "ssm:GetParameter on parameter/${RpcParameterPrefix}/*"): _RPC_IN_SSM,
    ("SenderFunction", "ssm:GetParameter on parameter/${ChannelParameterPrefix}/*"): (
        "in AWS the channel secrets (Discord webhook, Telegram and XMTP tokens) are SSM SecureStrings; the local "
        "cloud gives its stand-ins' secrets in the environment (infra/localcloud/sinks.py local_channels_env)"
    ),
    ("SweepFunction", "events:PutEvents on EventBus"): (
        "the sweep publishes segment.entered/exited when time alone moves a wallet (dormancy, P(alive)); the "
        "community's history ends at the session's start, so no wallet comes due within it"
    ),
    ("IngestFunction", "sqs:SendMessage on BackfillQueue"): (
        "a new chains seed (a stack update of ChainsConfig) that adds a contract to a chain already ingested "
        "backfills it; a local cloud applies its one seed before the first block is read"
    ),
}


def test_the_flows_the_other_e2e_tests_leave_out_run_end_to_end(cloud: LocalCloud) -> None:
    """So that their calls are measured too: an email through SES, a delivery the receiver refuses at
    first (the sender backs its message off), a lending alert, the hourly sweep and the nightly refit."""
    assert cloud.app is not None and cloud.app.runner is not None and cloud.app.host is not None
    assert cloud.sinks is not None and cloud.deployment is not None
    host, runner, sinks = cloud.app.host, cloud.app.runner, cloud.sinks
    errors = {f: host.stats.errors[f] for f in ("SweepFunction", "ChurnFitFunction")}
    # the schedules fire on the scheduler's thread while the campaigns below run
    runner.trigger_now("SweepFunction")
    runner.trigger_now("ChurnFitFunction")

    # Given one wallet with a contact who consents to email, alone in a segment by its tag
    wallets = [w["address"] for w in _call(cloud, "GET", "/wallets", params={"limit": 100}).json()["items"]]
    contact = {"name": "Iris", "email": "iris@example.org", "consent": {"email": True}}
    # a wallet that no other test linked to a contact already (that is a 409)
    wallet = next(
        w for w in reversed(wallets) if _call(cloud, "POST", "/contacts", None, json={**contact, "wallets": [w]}).ok
    )
    _call(cloud, "POST", f"/wallets/{wallet}/tags", json={"tags": ["iam-probe"]})
    rule = {"match": {"type": "tag", "tag": "iam-probe"}}
    segment = _call(cloud, "POST", "/segments", 201, json={"name": "IAM probe", "rule": rule}).json()
    segment_id = segment["definition"]["segment_id"]
    _wait(lambda: _call(cloud, "GET", f"/segments/{segment_id}").json()["evaluation"]["state"] == "done", 120, "eval")
    # and a receiver that refuses the first three attempts (one message's in-process retries)
    flaky = "/webhook/iam-flaky"
    sinks.script(flaky, responses=[503, 503, 503])
    broadcast = {"segment_id": segment_id, "holdout_pct": 0, "transactional": True}
    campaigns = {
        "email": {**broadcast, "channel": "email", "template": {"subject": "gm", "body": "gm {{ address }}"}},
        "webhook": {
            **broadcast,
            "channel": "webhook",
            "webhook_url": sinks.webhook_url("iam-flaky"),
            "template": {"body": "gm {{ address }}"},
        },
    }
    sent = {}
    for channel, body in campaigns.items():
        created = _call(cloud, "POST", "/campaigns", 201, json={"name": f"IAM {channel}", **body}).json()
        _call(cloud, "POST", f"/campaigns/{created['campaign_id']}/send", 202)
        sent[channel] = created["campaign_id"]
    # and a lending alert campaign, then WETH falling 40%: borrowers' health factors cross into worse bands
    alerts = _call(
        cloud,
        "POST",
        "/campaigns",
        201,
        json={
            "name": "IAM health alert",
            "channel": "webhook",
            "webhook_url": sinks.webhook_url("iam-alerts"),
            "template": {"body": "{{ address }}: {{ trigger.band }}"},
            "holdout_pct": 0,
            "transactional": True,
            "trigger": {"event": "lending.band", "cooldown_days": 0},
        },
    ).json()
    assert alerts["campaign_id"]
    chain = cloud.deployment.chain(31337)
    oracle, weth = chain.contracts["oracle"], chain.contracts["weth"]
    rpc = Rpc(chain.rpc_url)
    asked = {"to": oracle, "data": encode_call("getAssetPrice(address)", weth)}
    price = int(rpc.call("eth_call", [asked, "latest"]), 16)
    with BatchSender(rpc) as sender:
        data = encode_call("setAssetPrices(address[],uint256[])", [weth], [price * 6 // 10])
        sender.mine_block([Tx(chain.contracts["treasury"], oracle, data, 200_000, 1)])
    cloud.catch_up(timeout=300)

    # Then the email went out (SES accepted it), the refused webhook arrived on a later delivery, alerts
    # reached their receiver, and both schedules ran without an error
    def delivered(campaign_id: str) -> bool:
        report = _call(cloud, "GET", f"/campaigns/{campaign_id}/report").json()
        return bool(report["dispatch"]["done"] and report["treatment"]["delivered"] == 1)

    _wait(lambda: all(delivered(c) for c in sent.values()), 120, "the email and the webhook")
    assert [d["status"] for d in sinks.deliveries(flaky, include_failed=True)] == [503, 503, 503, 200]
    _wait(lambda: sinks.count("/webhook/iam-alerts"), 120, "a lending alert")

    def schedules_ran() -> bool:
        return all(host.stats.invocations[f] for f in errors) and not runner.scheduler.pending()

    _wait(schedules_ran, 300, "the sweep and the refit")
    assert {f: host.stats.errors[f] for f in errors} == errors


@pytest.fixture(scope="module")
def snapshot(cloud: LocalCloud, aws_calls: Recorder) -> Snapshot:
    taken = Snapshot.of(cloud, aws_calls)
    # kept beside the run's state, to read what was called when a test below fails
    taken.save(cloud.state_dir / "iam-calls.json")
    return taken


@pytest.fixture(scope="module")
def result(snapshot: Snapshot, cloud: LocalCloud) -> Audit:
    assert cloud.app is not None
    found = audit(snapshot, cloud.app.template)
    (cloud.state_dir / "iam-report.txt").write_text(found.summary() + "\n")
    return found


def test_every_call_of_every_function_was_recorded_as_iam_requests(snapshot: Snapshot, result: Audit) -> None:
    assert not snapshot.underivable, f"calls infra/localcloud/calls.py cannot map to IAM: {snapshot.underivable}"
    assert not result.unknown_functions, f"calls by functions the template does not have: {result.unknown_functions}"
    assert not result.untaught_keys, (
        f"roles test condition keys the recorder does not supply (teach infra/localcloud/calls.py): "
        f"{result.untaught_keys}"
    )
    assert sum(result.calls.values()) > 0


def test_every_call_is_allowed_by_its_functions_role(result: Audit, cloud: LocalCloud) -> None:
    denied = [
        f"{d.function} ({d.origin}, {d.calls} calls): {d.request.action} on {d.request.resource} "
        f"{d.request.context or ''} -> {d.verdict.result}"
        for d in result.denied
    ]
    assert not denied, "denied:\n" + "\n".join(denied) + f"\n(every request: {cloud.state_dir / 'iam-calls.json'})"
    unapplied = [f"{f}: {r.action} on {r.resource}: {keys}" for f, r, keys in result.unapplied]
    assert not unapplied, "condition keys the evaluator did not apply:\n" + "\n".join(unapplied)


def test_every_statement_of_every_role_allowed_some_call(result: Audit, request: pytest.FixtureRequest) -> None:
    options = request.config.option
    ran = {item.path for item in request.session.items if item.path.is_relative_to(E2E)}
    if set(E2E.glob("test_*.py")) - ran or options.keyword or options.markexpr:
        pytest.skip("only a run of the whole e2e package uses every statement")
    unused = {(s.function, s.label) for s in result.unused()}
    unexplained = sorted(unused - set(UNUSED_BY_DESIGN))
    assert not unexplained, (
        "statements no call used: remove them from template.yaml, make the e2e run use them, or explain them "
        "in UNUSED_BY_DESIGN:\n" + "\n".join(f"{f}: {label}" for f, label in unexplained) + "\n" + result.summary()
    )
    written = {(s.function, s.label) for s in result.statements}
    stale = sorted(set(UNUSED_BY_DESIGN) - (unused & written))
    assert not stale, f"UNUSED_BY_DESIGN names statements that are gone or used now: {stale}"
