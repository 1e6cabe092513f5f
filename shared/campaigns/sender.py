"""The sender: one queued message to one recipient, never twice.

Before any channel is called, the send is claimed with a conditional put of SEND#<campaign>#<wallet>
#<occurrence> (docs/architecture.md, "Campaigns"). A redelivered message finds the claim and does nothing. A crash
between the claim and the delivery loses that one message rather than risk repeating it. A
transient failure releases the claim (status `retry`) for SQS to redeliver; on the last receive it
is recorded as failed and the message goes on to the DLQ.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from botocore.exceptions import ClientError

from shared import contacts
from shared.campaigns import store
from shared.campaigns.dispatch import SendJob
from shared.campaigns.facts import wallet_facts
from shared.campaigns.model import Campaign
from shared.channels import Channel, ChannelsConfig, Message, TransientDeliveryError, deliver, render
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.transact import cancellation_reasons

SendOutcome = Literal["delivered", "failed", "duplicate", "skipped", "cancelled"]
FREQUENCY_HISTORY = 50


class RetryLater(Exception):
    """A transient failure with attempts left: SQS redelivers after `delay_s`."""

    def __init__(self, detail: str, delay_s: float) -> None:
        super().__init__(detail)
        self.delay_s = delay_s


def postpone(receipt_handle: str, retry: RetryLater, settings: Settings) -> None:
    """Back off this one message (its visibility timeout) while the rest of its batch goes on."""
    dynamo.client("sqs").change_message_visibility(
        QueueUrl=settings.sends_queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=int(retry.delay_s)
    )


def send_id(job: SendJob) -> str:
    return f"{job.campaign_id}:{job.address}:{job.occurrence}"


def process(
    job: SendJob,
    receive_count: int,
    channels: ChannelsConfig,
    settings: Settings,
    reads: store.BatchReads | None = None,
) -> SendOutcome:
    """Deliver one send. `reads` shares the campaign read across one batch of messages."""
    campaign = reads.campaign(job.campaign_id) if reads else store.get_campaign(job.campaign_id, settings)
    if not _claim(job, receive_count, settings):
        return "duplicate"
    if campaign.status == "cancelled":
        _finish(job, campaign, "cancelled", "campaign cancelled before delivery", None, settings)
        return "cancelled"
    if contacts.wallet_suppressed([job.address], settings):
        _finish(job, campaign, "skipped", "wallet erased and suppressed after dispatch", None, settings)
        return "skipped"
    message = build_message(job, campaign, settings)
    if message is None:
        _finish(job, campaign, "skipped", "no contact consents to this channel any more", None, settings)
        return "skipped"
    try:
        outcome = deliver(message, channels)
    except TransientDeliveryError as exc:
        if receive_count >= settings.campaigns.sends_max_receive_count:
            _finish(job, campaign, "failed", f"gave up after {receive_count} attempts: {exc.detail}", None, settings)
            raise
        _release(job, exc.detail, settings)
        raise RetryLater(exc.detail, min(300.0, max(exc.retry_after or 0.0, 2.0**receive_count))) from exc
    _finish(job, campaign, outcome.status, outcome.detail, outcome.provider_id, settings)
    return outcome.status


def build_message(job: SendJob, campaign: Campaign, settings: Settings) -> Message | None:
    """The rendered message, or None when no linked contact consents to the channel any more."""
    reached = _destination(job, campaign, settings)
    if reached is None:
        return None
    destination, contact = reached
    fields = _fields(job, contact, settings)
    channel = Channel(campaign.channel)
    subject = render(campaign.template.subject, fields, channel) if campaign.template.subject else None
    return Message(
        send_id=send_id(job),
        campaign_id=campaign.campaign_id,
        address=job.address,
        channel=channel,
        destination=destination,
        subject=subject,
        body=render(campaign.template.body, fields, channel),
        data={"campaign": campaign.name, "occurrence": job.occurrence, "trigger": job.context},
    )


def _destination(job: SendJob, campaign: Campaign, settings: Settings) -> tuple[str, contacts.Contact | None] | None:
    """Where the message goes, and the consenting contact it goes to (None for a webhook)."""
    channel = Channel(campaign.channel)
    if channel == Channel.WEBHOOK:
        return (campaign.webhook_url, None) if campaign.webhook_url else None
    consenting = contacts.reach(job.address, settings).get(str(channel), [])
    for contact in contacts.load_contacts(consenting, settings):
        if channel == Channel.XMTP:
            return job.address, contact
        value = getattr(contact, str(channel), None)
        if value:
            return str(value), contact
    return None


def _fields(job: SendJob, contact: contacts.Contact | None, settings: Settings) -> dict[str, Any]:
    """What a template may use: the wallet's profile, the contact's name, and the trigger's context."""
    facts = wallet_facts(job.address, settings)
    fields: dict[str, Any] = {"address": job.address, "trigger": job.context}
    if facts is not None:
        fields.update(facts)
    if contact is not None:
        fields["contact"] = {"name": contact.name}
        fields["name"] = contact.name
    return fields


# ---- the SEND# record's life: claimed -> delivered | failed | skipped | cancelled, or retry ------


def _claim(job: SendJob, receive_count: int, settings: Settings) -> bool:
    key = keys.send_key(job.campaign_id, job.address, job.occurrence)
    return store.applied(
        lambda: dynamo.client("dynamodb").put_item(
            TableName=settings.app_table,
            Item={
                **dynamo.to_item(key),
                **dynamo.to_item(keys.sends_by_status_gsi(job.campaign_id, "sending", job.address, job.occurrence)),
                "status": {"S": "sending"},
                "attempts": {"N": str(receive_count)},
                "claimed_at": {"N": str(int(time.time()))},
            },
            ConditionExpression="attribute_not_exists(pk) OR #s = :retry",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":retry": {"S": "retry"}},
        )
    )


def _release(job: SendJob, detail: str, settings: Settings) -> None:
    _set_status(job, "retry", detail, None, settings, extra_actions=[])


def _finish(
    job: SendJob, campaign: Campaign, status: str, detail: str, provider_id: str | None, settings: Settings
) -> None:
    increments: dict[str, int] = {}
    if status in ("delivered", "failed"):
        increments = {store.counter("treatment", "sent"): 1, store.counter("treatment", status): 1}
    elif status in ("skipped", "cancelled"):
        increments = {store.counter("treatment", "skipped"): 1, f"skip_{status}_at_send": 1}
    actions = [store.add_counters(job.campaign_id, increments, settings)]
    if status == "delivered" and not campaign.transactional:
        actions.append(_frequency_update(job.address, settings))
    _set_status(job, status, detail, provider_id, settings, extra_actions=actions)


def _frequency_update(address: str, settings: Settings) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": settings.app_table,
            "Key": dynamo.to_item(keys.frequency_key(address)),
            "UpdateExpression": "SET times = list_append(if_not_exists(times, :empty), :now)",
            "ExpressionAttributeValues": {":empty": {"L": []}, ":now": {"L": [{"N": str(int(time.time()))}]}},
        }
    }


def _set_status(
    job: SendJob,
    status: str,
    detail: str,
    provider_id: str | None,
    settings: Settings,
    extra_actions: list[dict[str, Any]],
) -> None:
    """Move the claim on from `sending`, with its counters, in one transaction guarded by the claim."""
    gsi = keys.sends_by_status_gsi(job.campaign_id, status, job.address, job.occurrence)
    values: dict[str, Any] = {
        ":status": {"S": status},
        ":detail": {"S": detail[:300]},
        ":sending": {"S": "sending"},
        ":gpk": {"S": gsi["gsi3pk"]},
        ":at": {"N": str(int(time.time()))},
    }
    expression = "SET #s = :status, detail = :detail, gsi3pk = :gpk, finished_at = :at"
    if provider_id:
        expression += ", provider_id = :pid"
        values[":pid"] = {"S": provider_id[:200]}
    update = {
        "Update": {
            "TableName": settings.app_table,
            "Key": dynamo.to_item(keys.send_key(job.campaign_id, job.address, job.occurrence)),
            "UpdateExpression": expression,
            "ConditionExpression": "#s = :sending",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": values,
        }
    }
    actions = [update] + [a for a in extra_actions if a["Update"].get("UpdateExpression") != "ADD "]
    try:
        dynamo.client("dynamodb").transact_write_items(TransactItems=actions)
    except ClientError as exc:
        if cancellation_reasons(exc) is None:
            raise
        # the claim moved on already (a concurrent duplicate cannot exist: only the claimant gets here)
