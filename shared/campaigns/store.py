"""Campaign persistence: definitions, counters, targets, sends and conversions (docs/architecture.md, "Key shapes").

Counters move only inside the transaction that moves the thing they count (a dispatch page, a
send's status, a conversion), each guarded by a condition, so a redelivery never counts twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError

from shared.campaigns.lift import itt_lift
from shared.campaigns.model import (
    ONCE,
    ArmCounts,
    Campaign,
    CampaignCreate,
    CampaignReport,
    CampaignStatus,
    ConversionGoal,
    DispatchProgress,
)
from shared.retry import Backoff, call_with_retry
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.codec import DocCodec
from shared.store.keys.inverses import due_campaign_of
from shared.store.paging import query_all, query_items
from shared.store.transact import cancellation_reasons, is_condition_failure

ARM_FIELDS = ("targeted", "held_out", "skipped", "sent", "delivered", "failed", "converted")

CAMPAIGN_CODEC = DocCodec(Campaign)
# a conversion window (ATTRIB#) carries its campaign's goal, so crediting needs no campaign read
GOAL_CODEC = DocCodec(ConversionGoal, attribute="goal")
# a definition written by someone else meanwhile is read again at once: the winner has already written
LOST_RACE = Backoff(attempts=8, base_delay=0.0, max_delay=0.0)


class CampaignNotFound(LookupError):
    pass


class CampaignStateError(RuntimeError):
    """The campaign is not in a state that allows this; the message says which state it is in."""


def _db() -> Any:
    return dynamo.client("dynamodb")


def applied(write: Callable[[], object]) -> bool:
    """Run one conditional write; False when its condition failed (another delivery got there first)."""
    try:
        write()
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise
        return False
    return True


def _lost_race(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and (is_condition_failure(exc) or cancellation_reasons(exc) is not None)


def _definition_item(campaign: Campaign) -> dict[str, Any]:
    indexed = {**keys.campaign_key(campaign.campaign_id), **keys.campaign_list_gsi(campaign.campaign_id)}
    if campaign.trigger is not None and campaign.status == "active":
        indexed.update(keys.campaign_trigger_gsi(campaign.trigger.key, campaign.campaign_id))
    if campaign.status == "scheduled" and campaign.send_at is not None:
        indexed.update(keys.campaign_due_gsi(campaign.send_at, campaign.campaign_id))
    return CAMPAIGN_CODEC.encode(indexed, campaign, status=campaign.status, v=campaign.version)


def create_campaign(body: CampaignCreate, settings: Settings, now: int | None = None) -> Campaign:
    status: CampaignStatus = "active" if body.trigger else ("scheduled" if body.send_at is not None else "draft")
    campaign = Campaign(
        **body.model_dump(), campaign_id=uuid.uuid4().hex[:16], status=status, created_at=now or int(time.time())
    )
    stats: dict[str, Any] = {**dynamo.to_item(keys.campaign_stats_key(campaign.campaign_id)), "pages": {"N": "0"}}
    if campaign.conversion is not None:
        stats.update(dynamo.to_item(keys.converting_gsi(campaign.campaign_id)))
    _db().transact_write_items(
        TransactItems=[
            {"Put": {"TableName": settings.app_table, "Item": _definition_item(campaign)}},
            {"Put": {"TableName": settings.app_table, "Item": stats}},
        ]
    )
    return campaign


def get_campaign(campaign_id: str, settings: Settings) -> Campaign:
    found = (
        _db()
        .get_item(TableName=settings.app_table, Key=dynamo.to_item(keys.campaign_key(campaign_id)), ConsistentRead=True)
        .get("Item")
    )
    if not found:
        raise CampaignNotFound(f"no campaign {campaign_id}; GET /campaigns lists them")
    return CAMPAIGN_CODEC.decode(found)


def list_campaigns(settings: Settings) -> list[Campaign]:
    items = query_all(
        settings.app_table,
        IndexName=keys.GSI1,
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": "CAMPAIGNS"}},
    )
    return sorted((CAMPAIGN_CODEC.decode(i) for i in items), key=lambda c: c.created_at)


def transition(
    campaign: Campaign, allowed_from: Iterable[CampaignStatus], to: CampaignStatus, settings: Settings, **changes: Any
) -> Campaign:
    """Move the campaign to `to` if it is still in one of `allowed_from` (a version-checked put).

    A put that lost a race to another writer is redone on a fresh read, which may then find the
    campaign in a state that no longer allows the move.
    """
    allowed = list(allowed_from)
    current = campaign

    def attempt() -> Campaign:
        if current.status not in allowed:
            raise CampaignStateError(f"campaign is {current.status}; this needs it to be {' or '.join(allowed)}")
        updated = current.model_copy(update={**changes, "status": to, "version": current.version + 1})
        _db().put_item(
            TableName=settings.app_table,
            Item=_definition_item(updated),
            ConditionExpression="v = :seen",
            ExpressionAttributeValues={":seen": {"N": str(current.version)}},
        )
        return updated

    def reread(_: int, __: Exception) -> None:
        nonlocal current
        current = get_campaign(campaign.campaign_id, settings)

    return call_with_retry(attempt, retryable=_lost_race, backoff=LOST_RACE, on_retry=reread)


def triggered_campaigns(trigger_key: str, settings: Settings) -> list[Campaign]:
    items = query_all(
        settings.app_table,
        IndexName=keys.GSI2,
        KeyConditionExpression="gsi2pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.trigger_partition(trigger_key)}},
    )
    return [CAMPAIGN_CODEC.decode(i) for i in items]


class BatchReads:
    """Campaign reads remembered for one batch of messages (one invocation). A batch for one campaign
    then reads it once instead of once per message; a batch lasts seconds, so a cancel or a new
    triggered campaign is seen by the next batch."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._campaigns: dict[str, Campaign] = {}
        self._triggered: dict[str, list[Campaign]] = {}

    def campaign(self, campaign_id: str) -> Campaign:
        if campaign_id not in self._campaigns:
            self._campaigns[campaign_id] = get_campaign(campaign_id, self.settings)
        return self._campaigns[campaign_id]

    def triggered(self, trigger_key: str) -> list[Campaign]:
        if trigger_key not in self._triggered:
            self._triggered[trigger_key] = triggered_campaigns(trigger_key, self.settings)
        return self._triggered[trigger_key]


def due_campaigns(now: int, settings: Settings) -> list[str]:
    items = query_items(
        settings.app_table,
        IndexName=keys.GSI3,
        KeyConditionExpression="gsi3pk = :p AND gsi3sk <= :now",
        ExpressionAttributeValues={
            ":p": {"S": keys.CAMPAIGN_DUE_PARTITION},
            ":now": {"S": keys.due_upper_bound(now)},
        },
    )
    return [due_campaign_of(i["gsi3sk"]) for i in items]


def converting_campaigns(settings: Settings) -> list[str]:
    items = query_items(
        settings.app_table,
        IndexName=keys.GSI1,
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.CONVERTING_PARTITION}},
    )
    return [i["gsi1sk"] for i in items]


# ---- counters ----------------------------------------------------------------------------------


def counter(arm: str, name: str) -> str:
    return f"{'t' if arm == 'treatment' else 'h'}_{name}"


def add_counters(campaign_id: str, increments: dict[str, int], settings: Settings) -> dict[str, Any]:
    """The Update half of a transaction: ADD each counter."""
    names = {f"#c{i}": name for i, name in enumerate(increments)}
    values = {f":c{i}": {"N": str(amount)} for i, amount in enumerate(increments.values())}
    return {
        "Update": {
            "TableName": settings.app_table,
            "Key": dynamo.to_item(keys.campaign_stats_key(campaign_id)),
            "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(increments))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def report(campaign: Campaign, settings: Settings) -> CampaignReport:
    stats = (
        _db()
        .get_item(
            TableName=settings.app_table,
            Key=dynamo.to_item(keys.campaign_stats_key(campaign.campaign_id)),
            ConsistentRead=True,
        )
        .get("Item", {})
    )
    values = {k: v for k, v in dynamo.from_item(stats).items() if isinstance(v, int)}
    arms = {
        arm: ArmCounts(**{name: values.get(counter(arm, name), 0) for name in ARM_FIELDS})
        for arm in ("treatment", "holdout")
    }
    treatment, holdout = arms["treatment"], arms["holdout"]
    return CampaignReport(
        campaign_id=campaign.campaign_id,
        status=campaign.status,
        dispatch=DispatchProgress(
            pages=values.get("pages", 0), members_seen=values.get("members_seen", 0), done=bool(values.get("done"))
        ),
        treatment=treatment,
        holdout=holdout,
        skipped_reasons={k.removeprefix("skip_"): v for k, v in sorted(values.items()) if k.startswith("skip_")},
        lift=itt_lift(treatment.converted, treatment.targeted, holdout.converted, holdout.targeted),
        conversion=campaign.conversion,
    )


def occurrence_or_once(occurrence: str | None) -> str:
    return occurrence or ONCE
