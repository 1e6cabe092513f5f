"""Triggered campaigns: a wallet entering a segment, or a lending health band alert, targets that
wallet for every active campaign listening to the trigger.

Idempotent per occurrence: the TARGET# item of (campaign, wallet, occurrence) is created in one
transaction with the cooldown and the counters, so a redelivered trigger re-enqueues the same send
(which the sender dedupes) and never targets or counts twice.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from shared.campaigns import store
from shared.campaigns.dispatch import SendJob, enqueue_sends, screen, target_items
from shared.campaigns.model import DAY, Campaign
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.transact import cancellation_reasons

_OCCURRENCE = re.compile(r"[^A-Za-z0-9_.:-]")


def fire(
    trigger: str,
    address: str,
    occurrence: str,
    context: Mapping[str, Any] | None = None,
    *,
    settings: Settings,
    now: int | None = None,
    reads: store.BatchReads | None = None,
) -> int:
    """Target `address` for every active campaign on `trigger` ("segment.entered#<segment id>" or
    "lending.band"); returns how many sends were enqueued. `occurrence` identifies this firing.
    `reads` shares the campaign lookups of one batch of firings."""
    now = now or int(time.time())
    address = address.lower()
    occurrence = _OCCURRENCE.sub("_", occurrence)[:200]
    sends: list[SendJob] = []
    campaigns = reads.triggered(trigger) if reads else store.triggered_campaigns(trigger, settings)
    for campaign in campaigns:
        if campaign.status == "active" and _target(campaign, address, occurrence, settings, now):
            job = SendJob(campaign_id=campaign.campaign_id, address=address, occurrence=occurrence)
            sends.append(job.model_copy(update={"context": dict(context or {})}))
    return enqueue_sends(sends, settings)


def _target(campaign: Campaign, address: str, occurrence: str, settings: Settings, now: int) -> bool:
    """True when this occurrence targets the wallet on the treatment arm (a send is due)."""
    screened = screen(campaign, [address], occurrence, settings, now)
    if not screened.targets:
        _count_skip(campaign, screened.skipped, settings)
        return False
    target = screened.targets[0]
    cooldown_until = now + int(campaign.trigger.cooldown_days * DAY) if campaign.trigger else now
    items = target_items(campaign, [target], now)
    target_item, window_items = items[0], items[1:]
    increments = {store.counter(target.arm, "targeted"): 1}
    if target.arm == "holdout":
        increments["h_held_out"] = 1
    actions: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": settings.app_table,
                "Item": target_item,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Put": {
                "TableName": settings.app_table,
                "Item": {
                    **dynamo.to_item(keys.cooldown_key(campaign.campaign_id, address)),
                    "until": {"N": str(cooldown_until)},
                    "expires_at": {"N": str(cooldown_until + DAY)},
                },
                "ConditionExpression": "attribute_not_exists(pk) OR #until <= :now",
                "ExpressionAttributeNames": {"#until": "until"},
                "ExpressionAttributeValues": {":now": {"N": str(now)}},
            }
        },
        store.add_counters(campaign.campaign_id, increments, settings),
    ]
    actions += [{"Put": {"TableName": settings.app_table, "Item": w}} for w in window_items]
    try:
        dynamo.client("dynamodb").transact_write_items(TransactItems=actions)
    except ClientError as exc:
        reasons = cancellation_reasons(exc)
        if reasons is None:
            raise
        if reasons and reasons[0] == "ConditionalCheckFailed":
            # this occurrence was targeted before: re-enqueue, the sender never sends twice
            return _arm_of_existing(campaign, address, occurrence, settings) == "treatment"
        _count_skip(campaign, {"cooldown": 1}, settings)
        return False
    return target.arm == "treatment"


def _arm_of_existing(campaign: Campaign, address: str, occurrence: str, settings: Settings) -> str | None:
    item = (
        dynamo.client("dynamodb")
        .get_item(
            TableName=settings.app_table,
            Key=dynamo.to_item(keys.target_key(campaign.campaign_id, address, occurrence)),
            ConsistentRead=True,
        )
        .get("Item")
    )
    return dynamo.from_item(item)["arm"] if item else None


def _count_skip(campaign: Campaign, skipped: dict[str, int], settings: Settings) -> None:
    # best effort: a redelivered trigger may count a skip twice, it never sends twice
    if skipped:
        update = store.add_counters(campaign.campaign_id, {f"skip_{k}": v for k, v in skipped.items()}, settings)
        dynamo.client("dynamodb").update_item(**update["Update"])


def segment_trigger(segment_id: str) -> str:
    return f"segment.entered#{segment_id}"
