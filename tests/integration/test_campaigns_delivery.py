"""Campaign delivery against moto's SQS and DynamoDB and a real HTTP receiver: the sender Lambda
handler runs on real SQS messages (with their real receive counts), deliveries are counted at the
receiver."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from infra.localcloud.runner import sqs_lambda_record
from infra.localcloud.sinks import LocalSinks, local_channels_env
from shared.campaigns import dispatch, store, triggers
from shared.campaigns.model import CampaignCreate
from shared.events import Standard, TokenTransfer
from shared.segments import store as segments
from shared.segments.rules import parse_rule
from shared.settings import get_settings
from shared.store import dynamo
from tests.conftest import Deployed

SECRET = "whsec-test-" + "0" * 20


@dataclass
class Context:
    function_name: str = "SenderFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:SenderFunction"
    aws_request_id: str = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def sinks(tmp_path: Any) -> Iterator[LocalSinks]:
    with LocalSinks(webhook_secret=SECRET, state_dir=tmp_path / "sinks") as running:
        yield running


@pytest.fixture
def wired(deployed: Deployed, sinks: LocalSinks, monkeypatch: pytest.MonkeyPatch) -> Deployed:
    sqs = dynamo.client("sqs")
    for name in ("SendsQueue", "DispatchQueue", "SendsDLQ"):
        url = sqs.get_queue_url(QueueName=deployed.physical[name].rsplit("/", 1)[1])["QueueUrl"]
        deployed.physical[name] = url
    monkeypatch.setenv("SENDS_QUEUE_URL", deployed.physical["SendsQueue"])
    monkeypatch.setenv("DISPATCH_QUEUE_URL", deployed.physical["DispatchQueue"])
    # the template's single source: SendsMaxReceiveCount feeds both the redrive policy and KITH_CAMPAIGNS
    max_receives = int(template_default("SendsMaxReceiveCount"))
    monkeypatch.setenv("KITH_CAMPAIGNS", json.dumps({"sends_max_receive_count": max_receives}))
    for name, value in local_channels_env(sinks.url, SECRET).items():
        monkeypatch.setenv(name, value)
    # retry fast in-process, so the tests exercise SQS redelivery rather than sleeps
    channels = json.loads(local_channels_env(sinks.url, SECRET)["KITH_CHANNELS"])
    channels["retry"] = {"attempts": 2, "base_delay_s": 0.01, "max_delay_s": 0.02, "max_total_s": 2}
    monkeypatch.setenv("KITH_CHANNELS", json.dumps(channels))
    get_settings.cache_clear()
    from shared.channels import config

    config.get_channels_config.cache_clear()
    return deployed


def template_default(parameter: str) -> str:
    from infra.localcloud.template import load_template

    return str(load_template().sam["Parameters"][parameter]["Default"])


def _wallets(n: int, salt: int = 0) -> list[str]:
    return [f"0x{salt:04x}{i:036x}" for i in range(n)]


def _segment_with(members: list[str]) -> str:
    settings = get_settings()
    definition = segments.create_segment("audience", parse_rule({"match": {"type": "tag", "tag": "x"}}), settings)
    dynamo.batch_write(
        settings.app_table,
        puts=[segments.member_put(definition.segment_id, a, 1, int(time.time()) - 60) for a in members],
    )
    return definition.segment_id


def _webhook_campaign(sinks: LocalSinks, segment_id: str | None, name: str, **extra: Any) -> str:
    body = {
        "name": name,
        "channel": "webhook",
        "webhook_url": sinks.webhook_url(name),
        "template": {"body": "gm {{ address }}"},
        "holdout_pct": 20,
        **({"segment_id": segment_id} if segment_id else {}),
        **extra,
    }
    return store.create_campaign(CampaignCreate.model_validate(body), get_settings()).campaign_id


def _drain_dispatch(deployed: Deployed) -> None:
    sqs = dynamo.client("sqs")
    while True:
        got = sqs.receive_message(QueueUrl=deployed.physical["DispatchQueue"], MaxNumberOfMessages=10)
        if not got.get("Messages"):
            return
        for message in got["Messages"]:
            dispatch.run_dispatch_page(dispatch.parse_dispatch_job(message["Body"]), get_settings())
            sqs.delete_message(QueueUrl=deployed.physical["DispatchQueue"], ReceiptHandle=message["ReceiptHandle"])


def _receive(queue: str, max_messages: int = 10) -> list[dict[str, Any]]:
    got = dynamo.client("sqs").receive_message(
        QueueUrl=queue, MaxNumberOfMessages=max_messages, AttributeNames=["All"], VisibilityTimeout=30
    )
    return list(got.get("Messages", []))


def _run_sender(messages: list[dict[str, Any]], deployed: Deployed) -> dict[str, Any]:
    """The sender Lambda's handler on these messages, then what Lambda's SQS poller does with its answer."""
    from functions.sender import handler

    arn = "arn:aws:sqs:us-east-1:123456789012:SendsQueue"
    records = [sqs_lambda_record(m, arn, "us-east-1") for m in messages]
    try:
        answer: dict[str, Any] = handler.lambda_handler({"Records": records}, Context())
    except BatchProcessingError:
        # every record failed: Powertools fails the invocation, and Lambda returns the whole batch
        answer = {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in messages]}
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    sqs = dynamo.client("sqs")
    for message in messages:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=deployed.physical["SendsQueue"], ReceiptHandle=message["ReceiptHandle"])
    return answer


def _drain_sends(deployed: Deployed, rounds: int = 50) -> None:
    sqs = dynamo.client("sqs")
    for _ in range(rounds):
        messages = _receive(deployed.physical["SendsQueue"])
        if not messages:
            return
        answer = _run_sender(messages, deployed)
        for failure in answer["batchItemFailures"]:
            receipt = next(m["ReceiptHandle"] for m in messages if m["MessageId"] == failure["itemIdentifier"])
            # the sender asked for a backoff; the test does not wait it out
            sqs.change_message_visibility(
                QueueUrl=deployed.physical["SendsQueue"], ReceiptHandle=receipt, VisibilityTimeout=0
            )
    raise AssertionError("the sends queue did not drain")


def test_every_recipient_gets_exactly_one_webhook_despite_duplicates_and_a_crash(
    wired: Deployed, sinks: LocalSinks
) -> None:
    # Given a 60-wallet segment and a webhook campaign with a 20% holdout
    members = _wallets(60)
    campaign_id = _webhook_campaign(sinks, _segment_with(members), "launch")
    # When it is sent, dispatched, and every queued message is enqueued twice more (redeliveries)
    dispatch.start_send(campaign_id, get_settings())
    _drain_dispatch(wired)
    sqs = dynamo.client("sqs")
    originals: list[str] = []
    while messages := _receive(wired.physical["SendsQueue"]):
        originals += [m["Body"] for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=wired.physical["SendsQueue"], ReceiptHandle=m["ReceiptHandle"])
    for body in originals * 3:
        sqs.send_message(QueueUrl=wired.physical["SendsQueue"], MessageBody=body)
    # And the sender crashes in the middle of its first batch (after 4 of 10 messages)
    from shared.campaigns import sender

    real_process, calls = sender.process, [0]

    def crash_on_fifth(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 5:
            raise SystemExit("the Lambda runtime died")
        return real_process(*args, **kwargs)

    first = _receive(wired.physical["SendsQueue"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("functions.sender.handler.process", crash_on_fifth)
        with pytest.raises(SystemExit):
            _run_sender(first, wired)
    for m in first:  # nothing was acknowledged: every message of the batch comes back
        sqs.change_message_visibility(
            QueueUrl=wired.physical["SendsQueue"], ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
        )
    _drain_sends(wired)
    # Then each treated wallet got exactly one webhook, signed; the holdout got none
    treated = {json.loads(b)["address"] for b in originals}
    received = Counter(d["body"]["address"] for d in sinks.deliveries("/webhook/launch"))
    assert set(received) == treated and set(received.values()) == {1}
    assert all(d["signature_valid"] for d in sinks.deliveries("/webhook/launch"))
    report = store.report(store.get_campaign(campaign_id, get_settings()), get_settings())
    assert report.status == "sent" and report.dispatch.done
    assert report.treatment.targeted == len(treated) == report.treatment.delivered == report.treatment.sent
    assert report.treatment.targeted + report.holdout.targeted == 60
    assert report.holdout.held_out == report.holdout.targeted and report.holdout.sent == 0
    assert not set(received) & {
        a for a in members if dispatch.arm_for(store.get_campaign(campaign_id, get_settings()), a) == "holdout"
    }


def test_a_flaky_receiver_gets_one_delivery_and_a_dead_one_fills_the_dlq(wired: Deployed, sinks: LocalSinks) -> None:
    # Given one campaign whose receiver fails once, and one whose receiver always fails
    segment_id = _segment_with(_wallets(3, salt=1))
    flaky = _webhook_campaign(sinks, segment_id, "flaky", holdout_pct=0)
    down = _webhook_campaign(sinks, segment_id, "down", holdout_pct=0)
    sinks.script("/webhook/flaky", responses=[500, 500, 500, 200])
    sinks.script("/webhook/down", always=500)
    # When both are sent and the sends queue is worked until it is empty
    for campaign_id in (flaky, down):
        dispatch.start_send(campaign_id, get_settings())
    _drain_dispatch(wired)
    _drain_sends(wired)
    # Then the flaky receiver recorded exactly one successful delivery per wallet
    received = Counter(d["body"]["address"] for d in sinks.deliveries("/webhook/flaky"))
    assert received == Counter({a: 1 for a in _wallets(3, salt=1)})
    flaky_report = store.report(store.get_campaign(flaky, get_settings()), get_settings())
    assert (flaky_report.treatment.delivered, flaky_report.treatment.failed) == (3, 0)
    # And the dead receiver's messages went to the DLQ after maxReceiveCount, each counted as failed
    down_report = store.report(store.get_campaign(down, get_settings()), get_settings())
    assert (down_report.treatment.delivered, down_report.treatment.failed, down_report.treatment.sent) == (0, 3, 3)
    dlq = dynamo.client("sqs").get_queue_attributes(
        QueueUrl=wired.physical["SendsDLQ"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert int(dlq["Attributes"]["ApproximateNumberOfMessages"]) == 3


def test_holdout_share_is_binomial_and_stable_and_alerts_are_never_held_out(wired: Deployed, sinks: LocalSinks) -> None:
    # Given 2,000 wallets and a 10% holdout
    wallets = _wallets(2000, salt=2)
    campaign = store.create_campaign(
        CampaignCreate.model_validate(
            {
                "name": "h",
                "segment_id": "s",
                "channel": "webhook",
                "webhook_url": sinks.webhook_url("h"),
                "template": {"body": "x"},
                "holdout_pct": 10,
            }
        ),
        get_settings(),
    )
    held = sum(dispatch.arm_for(campaign, a) == "holdout" for a in wallets)
    # Then the share is within 4 standard deviations of 10%, and re-assigning changes nobody's arm
    sigma = math.sqrt(2000 * 0.1 * 0.9)
    assert abs(held - 200) < 4 * sigma
    assert [dispatch.arm_for(campaign, a) for a in wallets] == [dispatch.arm_for(campaign, a) for a in wallets]
    # And a transactional alert holds nobody out
    alert = campaign.model_copy(update={"transactional": True, "holdout_pct": 0})
    assert all(dispatch.arm_for(alert, a) == "treatment" for a in wallets)


def test_a_trigger_targets_once_per_occurrence_and_respects_the_cooldown(wired: Deployed, sinks: LocalSinks) -> None:
    # Given a triggered win-back campaign on a segment, with a 7-day cooldown and no holdout
    segment_id = _segment_with([])
    campaign_id = _webhook_campaign(
        sinks, None, "winback", holdout_pct=0, trigger={"event": "segment.entered", "segment_id": segment_id}
    )
    wallet = _wallets(1, salt=3)[0]
    trigger = triggers.segment_trigger(segment_id)
    # When the same entry is fired twice (a redelivered bus event), then a new entry a day later
    assert triggers.fire(trigger, wallet, "entry-1", settings=get_settings()) == 1
    assert triggers.fire(trigger, wallet, "entry-1", settings=get_settings()) == 1  # re-enqueued; the sender dedupes
    assert triggers.fire(trigger, wallet, "entry-2", settings=get_settings(), now=int(time.time()) + 86_400) == 0
    _drain_sends(wired)
    # Then the wallet received one message and the second entry was skipped for the cooldown
    assert sinks.count("/webhook/winback") == 1
    report = store.report(store.get_campaign(campaign_id, get_settings()), get_settings())
    assert report.treatment.targeted == 1 and report.skipped_reasons == {"cooldown": 1}


def test_an_email_campaign_reaches_only_consenting_contacts(
    wired: Deployed, sinks: LocalSinks, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.localcloud.sinks import prepare_local_email
    from shared import contacts

    prepare_local_email(wired.endpoint)
    sinks.moto_endpoint = wired.endpoint
    # Given three members: one whose contact consents to email, one whose contact does not, one without a contact
    consenting, silent, unknown = _wallets(3, salt=4)
    contacts.create_contact(
        contacts.ContactFields(
            name="Ada <admin>", email="ada@example.org", wallets=[consenting], consent=contacts.Consent(email=True)
        ),
        get_settings(),
    )
    contacts.create_contact(contacts.ContactFields(email="bo@example.org", wallets=[silent]), get_settings())
    campaign = store.create_campaign(
        CampaignCreate.model_validate(
            {
                "name": "news",
                "segment_id": _segment_with([consenting, silent, unknown]),
                "channel": "email",
                "holdout_pct": 0,
                "template": {"subject": "Hi {{ name }}", "body": "<p>gm {{ name }}</p>"},
            }
        ),
        get_settings(),
    )
    # When it is sent
    dispatch.start_send(campaign.campaign_id, get_settings())
    _drain_dispatch(wired)
    _drain_sends(wired)
    # Then one email went out, to the consenting contact, with the name escaped in the body
    sent = [e for e in sinks.emails() if "ada@example.org" in str(e["destinations"])]
    assert len(sent) == 1 and "Ada &lt;admin&gt;" in str(sent[0]["body"])
    report = store.report(store.get_campaign(campaign.campaign_id, get_settings()), get_settings())
    assert report.treatment.delivered == 1 and report.skipped_reasons == {"no_consent": 2}


def test_a_scheduled_campaign_starts_when_due_and_a_cancel_stops_its_queued_sends(
    wired: Deployed, sinks: LocalSinks
) -> None:
    # Given a broadcast scheduled a minute from now
    now = int(time.time())
    campaign_id = _webhook_campaign(sinks, _segment_with(_wallets(5, salt=5)), "later", holdout_pct=0, send_at=now + 60)
    assert store.get_campaign(campaign_id, get_settings()).status == "scheduled"
    # When the schedule runs before and after its time
    assert dispatch.start_due(get_settings(), now) == []
    assert dispatch.start_due(get_settings(), now + 61) == [campaign_id]
    assert dispatch.start_due(get_settings(), now + 62) == []  # started once
    _drain_dispatch(wired)
    # And it is cancelled before the sender runs
    store.transition(
        store.get_campaign(campaign_id, get_settings()), ("sent", "dispatching"), "cancelled", get_settings()
    )
    _drain_sends(wired)
    # Then nothing was delivered and every queued message was accounted as cancelled
    assert sinks.count("/webhook/later") == 0
    report = store.report(store.get_campaign(campaign_id, get_settings()), get_settings())
    assert report.treatment.targeted == 5 and report.treatment.skipped == 5
    assert report.skipped_reasons == {"cancelled_at_send": 5}


def test_a_transition_from_a_stale_read_is_redone_on_the_current_definition(wired: Deployed, sinks: LocalSinks) -> None:
    # Given a draft read before another writer moved it on
    settings = get_settings()
    stale = store.get_campaign(_webhook_campaign(sinks, "s", "raced", holdout_pct=0), settings)
    moved = store.transition(stale, ("draft",), "scheduled", settings, send_at=int(time.time()) + 3600)
    # When the stale copy is cancelled, Then the cancel applies to the current version
    cancelled = store.transition(stale, ("draft", "scheduled"), "cancelled", settings)
    assert (cancelled.status, cancelled.version, cancelled.send_at) == ("cancelled", moved.version + 1, moved.send_at)
    assert store.get_campaign(stale.campaign_id, settings) == cancelled
    # And a move the current state does not allow is refused, not applied to the stale copy
    with pytest.raises(store.CampaignStateError, match="cancelled"):
        store.transition(stale, ("draft",), "scheduled", settings)


def _received(token: str, wallet: str, block: int, at: int) -> TokenTransfer:
    """A transfer of `token` to `wallet` at block `block`, time `at`."""
    return TokenTransfer(
        chain_id=31337,
        block_number=block,
        block_hash=f"0x{block:064x}",
        block_time=at,
        tx_hash=f"0x{block:064x}",
        log_index=0,
        contract=token,
        standard=Standard.ERC20,
        from_address="0x" + "11" * 20,
        to_address=wallet,
        amount=10,
    )


def test_conversions_are_credited_once_per_arm_and_taken_back_by_a_rollback(wired: Deployed, sinks: LocalSinks) -> None:
    from shared.campaigns import conversions

    token = "0x" + "ab" * 20
    wallets = _wallets(40, salt=6)
    campaign_id = _webhook_campaign(
        sinks,
        _segment_with(wallets),
        "convert",
        holdout_pct=50,
        conversion={"action": "transfer_in", "contract": token, "window_days": 7},
    )
    dispatch.start_send(campaign_id, get_settings())
    _drain_dispatch(wired)
    campaign = store.get_campaign(campaign_id, get_settings())
    assert campaign.sent_at is not None

    # Given every wallet receives the token after the send, one of them twice, and one before the send
    events = [_received(token, w, 100 + i, campaign.sent_at + 60) for i, w in enumerate(wallets)]
    events.append(_received(token, wallets[0], 500, campaign.sent_at + 120))
    early = _received(token, wallets[1], 1, campaign.sent_at - 60)
    # When the profiles function credits them, and then the same batch is redelivered
    conversions.credit_changes([(None, e) for e in [early, *events]], get_settings())
    conversions.credit_changes([(None, e) for e in events], get_settings())
    # Then each targeted wallet converted once, counted in its own arm
    report = store.report(store.get_campaign(campaign_id, get_settings()), get_settings())
    arms = Counter(dispatch.arm_for(campaign, w) for w in wallets)
    assert (report.treatment.converted, report.holdout.converted) == (arms["treatment"], arms["holdout"])
    # And a reorg that removes one converting event takes its credit back
    conversions.credit_changes([(events[5], None)], get_settings())
    after = store.report(store.get_campaign(campaign_id, get_settings()), get_settings())
    arm = dispatch.arm_for(campaign, wallets[5])
    assert getattr(after, arm).converted == getattr(report, arm).converted - 1


def test_a_campaign_created_after_the_open_list_was_cached_converts_its_first_events(
    wired: Deployed, sinks: LocalSinks
) -> None:
    from shared.campaigns import conversions

    token = "0x" + "cd" * 20

    # Given the profiles function just cached the open campaigns while replaying an old block
    conversions.credit_changes(
        [(None, _received(token, "0x" + "22" * 20, 1, int(time.time()) - 86_400))], get_settings()
    )
    # and a campaign created, sent and dispatched right after (well within the cache's lifetime)
    wallets = _wallets(10, salt=7)
    campaign_id = _webhook_campaign(
        sinks,
        _segment_with(wallets),
        "convert-at-once",
        holdout_pct=0,
        conversion={"action": "transfer_in", "contract": token, "window_days": 7},
    )
    dispatch.start_send(campaign_id, get_settings())
    _drain_dispatch(wired)
    campaign = store.get_campaign(campaign_id, get_settings())
    assert campaign.sent_at is not None
    # When every recipient receives the token seconds after the send
    conversions.credit_changes(
        [(None, _received(token, w, 900 + i, campaign.sent_at + 5)) for i, w in enumerate(wallets)],
        get_settings(),
    )
    # Then each of them converted
    assert store.report(store.get_campaign(campaign_id, get_settings()), get_settings()).treatment.converted == len(
        wallets
    )
