"""Dispatch: freeze an audience, leave out who must be left out, assign arms, enqueue the sends.

A broadcast is dispatched one page of segment members per queue message. A page's targets are
written with idempotent puts, their sends enqueued (the sender dedupes), and only then is the page
recorded with a condition on its number; the counters move with that record, so a redelivered page
never counts twice. A triggered campaign targets one wallet per occurrence (shared.campaigns.triggers).
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from shared import contacts
from shared.campaigns import store
from shared.campaigns.model import DAY, ONCE, Arm, Campaign
from shared.channels import Channel
from shared.retry import Backoff
from shared.segments.store import members_page
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.queue import send_batch

PAGE_SIZE = 200
HOLDOUT_BUCKETS = 10_000
# a page whose messages SQS keeps refusing fails, and the dispatch queue retries the whole page
_SQS_BACKOFF = Backoff(attempts=5, base_delay=0.1, max_delay=1.6)
CONSENT_LOOKUP_THREADS = 8


class DispatchJob(BaseModel):
    campaign_id: str
    page: int = 0
    start_key: dict[str, Any] | None = None


class SendJob(BaseModel):
    """One message to send: the body of a sends-queue message."""

    campaign_id: str
    address: str
    occurrence: str = ONCE
    context: dict[str, Any] = {}


@dataclass
class Target:
    address: str
    arm: Arm
    occurrence: str


@dataclass
class Screened:
    targets: list[Target] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)


def holdout_bucket(campaign_id: str, address: str) -> int:
    """A wallet's bucket for a campaign: stable across re-dispatch, independent across campaigns."""
    digest = hashlib.sha256(f"{campaign_id}:{address.lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % HOLDOUT_BUCKETS


def arm_for(campaign: Campaign, address: str) -> Arm:
    if campaign.transactional or campaign.holdout_pct <= 0:
        return "treatment"
    held = holdout_bucket(campaign.campaign_id, address) < round(campaign.holdout_pct / 100 * HOLDOUT_BUCKETS)
    return "holdout" if held else "treatment"


def consent_channel(channel: Channel) -> str | None:
    """The consent a channel needs from the wallet's contact; a webhook goes to the team's own system."""
    return None if channel == Channel.WEBHOOK else str(channel)


def screen(
    campaign: Campaign, addresses: list[str], occurrence: str, settings: Settings, now: int | None = None
) -> Screened:
    """Who of these wallets may be targeted: not suppressed, consenting, under the frequency cap."""
    now = now or int(time.time())
    result = Screened()
    suppressed = contacts.wallet_suppressed(addresses, settings)
    needed = consent_channel(campaign.channel)
    reachable: dict[str, bool] = {}
    if needed is not None:
        candidates = [a for a in addresses if a not in suppressed]
        with ThreadPoolExecutor(max_workers=CONSENT_LOOKUP_THREADS) as pool:
            reaches = pool.map(lambda a: needed in contacts.reach(a, settings), candidates)
            reachable = dict(zip(candidates, reaches, strict=True))
    capped = set() if campaign.transactional else over_cap(addresses, settings, now)
    for address in addresses:
        reason = None
        if address in suppressed:
            reason = "suppressed"
        elif needed is not None and not reachable.get(address):
            reason = "no_consent"
        elif address in capped:
            reason = "frequency_cap"
        if reason:
            result.skipped[reason] = result.skipped.get(reason, 0) + 1
        else:
            result.targets.append(Target(address, arm_for(campaign, address), occurrence))
    return result


def over_cap(addresses: list[str], settings: Settings, now: int) -> set[str]:
    cap = settings.campaigns
    since = now - cap.frequency_window_days * DAY
    items = dynamo.batch_get(settings.app_table, [dynamo.to_item(keys.frequency_key(a)) for a in addresses])
    over: set[str] = set()
    for item in map(dynamo.from_item, items):
        recent = [sent_at for sent_at in item.get("times", []) if sent_at >= since]
        if len(recent) >= cap.frequency_cap:
            over.add(keys.frequency_wallet_of(item["pk"]))
    return over


def target_items(campaign: Campaign, targets: list[Target], assigned_at: int) -> list[dict[str, Any]]:
    """The frozen audience (TARGET#) and, when a conversion is declared, each wallet's open window (ATTRIB#)."""
    items: list[dict[str, Any]] = []
    for target in targets:
        target_key = keys.target_key(campaign.campaign_id, target.address, target.occurrence)
        items.append(dynamo.to_item({**target_key, "arm": target.arm, "assigned_at": assigned_at}))
        if campaign.conversion is not None:
            window_end = assigned_at + campaign.conversion.window_days * DAY
            items.append(
                store.GOAL_CODEC.encode(
                    keys.attribution_key(target.address, campaign.campaign_id),
                    campaign.conversion,
                    occurrence=target.occurrence,
                    arm=target.arm,
                    starts_at=assigned_at,
                    ends_at=window_end,
                    expires_at=window_end + 30 * DAY,
                )
            )
    return items


def enqueue_sends(jobs: list[SendJob], settings: Settings) -> int:
    if not jobs:
        return 0
    if not settings.sends_queue_url:
        raise RuntimeError("SENDS_QUEUE_URL is not set: campaign messages cannot be queued")
    send_batch(
        settings.sends_queue_url,
        [job.model_dump_json() for job in jobs],
        what="campaign messages",
        backoff=_SQS_BACKOFF,
    )
    return len(jobs)


# ---- broadcasts --------------------------------------------------------------------------------


def start_send(campaign_id: str, settings: Settings, now: int | None = None) -> Campaign:
    """Freeze the audience now and start dispatching it; the API answers at once with the campaign."""
    now = now or int(time.time())
    campaign = store.get_campaign(campaign_id, settings)
    if campaign.trigger is not None:
        raise store.CampaignStateError("a triggered campaign sends when its trigger fires; it cannot be sent by hand")
    dispatching = store.transition(campaign, ("draft", "scheduled"), "dispatching", settings, sent_at=now)
    enqueue_dispatch(DispatchJob(campaign_id=campaign_id), settings)
    return dispatching


def enqueue_dispatch(job: DispatchJob, settings: Settings) -> None:
    if not settings.dispatch_queue_url:
        raise RuntimeError("DISPATCH_QUEUE_URL is not set: the campaign cannot be dispatched")
    dynamo.client("sqs").send_message(QueueUrl=settings.dispatch_queue_url, MessageBody=job.model_dump_json())


def run_dispatch_page(job: DispatchJob, settings: Settings) -> DispatchJob | None:
    """Dispatch one page of the audience; returns the next job (already enqueued) or None at the end."""
    campaign = store.get_campaign(job.campaign_id, settings)
    if campaign.status != "dispatching" or campaign.segment_id is None or campaign.sent_at is None:
        return None  # cancelled meanwhile, or a stale message
    members, next_key = members_page(campaign.segment_id, PAGE_SIZE, job.start_key, settings)
    # members who joined after the send was pressed are not part of the frozen audience
    addresses = [m["address"] for m in members if int(m["entered_at"]) <= campaign.sent_at]
    screened = screen(campaign, addresses, ONCE, settings, campaign.sent_at)
    dynamo.batch_write(settings.app_table, puts=target_items(campaign, screened.targets, campaign.sent_at))
    treated = [t for t in screened.targets if t.arm == "treatment"]
    enqueue_sends([SendJob(campaign_id=campaign.campaign_id, address=t.address) for t in treated], settings)
    last = next_key is None
    if not _record_page(campaign, job, len(members), screened, last, settings):
        return None  # a redelivery of a page already recorded: its successor was enqueued then
    if last:
        store.transition(store.get_campaign(campaign.campaign_id, settings), ("dispatching",), "sent", settings)
        return None
    following = DispatchJob(campaign_id=job.campaign_id, page=job.page + 1, start_key=next_key)
    enqueue_dispatch(following, settings)
    return following


def _record_page(
    campaign: Campaign, job: DispatchJob, members: int, screened: Screened, last: bool, settings: Settings
) -> bool:
    increments: dict[str, int] = {"pages": 1, "members_seen": members}
    for target in screened.targets:
        name = store.counter(target.arm, "targeted")
        increments[name] = increments.get(name, 0) + 1
        if target.arm == "holdout":
            increments["h_held_out"] = increments.get("h_held_out", 0) + 1
    for reason, count in screened.skipped.items():
        increments[f"skip_{reason}"] = count
    if last:
        increments["done"] = 1
    update = store.add_counters(campaign.campaign_id, increments, settings)["Update"]
    update["ConditionExpression"] = "pages = :page"
    update["ExpressionAttributeValues"][":page"] = {"N": str(job.page)}
    return store.applied(lambda: dynamo.client("dynamodb").update_item(**update))


def parse_dispatch_job(body: str) -> DispatchJob:
    return DispatchJob.model_validate(json.loads(body))


def start_due(settings: Settings, now: int | None = None) -> list[str]:
    """The schedule's work: start every scheduled campaign whose time has come."""
    now = now or int(time.time())
    started: list[str] = []
    for campaign_id in store.due_campaigns(now, settings):
        try:
            start_send(campaign_id, settings, now)
            started.append(campaign_id)
        except store.CampaignStateError:
            continue  # cancelled or already started by hand
    return started
