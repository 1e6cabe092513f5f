"""/campaigns: messages to a segment (or on a trigger) with a holdout, sent once, measured by lift."""

from __future__ import annotations

import time
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, Field

from shared import privacy
from shared.api.caller import audit, current_caller
from shared.api.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.auth import Scope
from shared.campaigns import dispatch, store
from shared.campaigns.model import Campaign, CampaignCreate, CampaignReport
from shared.channels import get_channels_config, webhook
from shared.egress import EgressRefused, check_url
from shared.segments import store as segments
from shared.settings import get_settings

router = Router()
CAMPAIGN_ID = r"^[0-9a-f]{16}$"


class CampaignList(BaseModel):
    items: list[Campaign]


def shown(campaign: Campaign) -> Campaign:
    """Without the pii scope the webhook URL shows only its scheme and host: paths and queries carry tokens."""
    if campaign.webhook_url is None or current_caller().sees_pii:
        return campaign
    return campaign.model_copy(update={"webhook_url": privacy.mask_url(campaign.webhook_url)})


class WebhookSecret(BaseModel):
    campaign_id: str
    webhook_url: str
    secret: str = Field(description="this endpoint's signing secret (Standard Webhooks whsec_ form)")


@router.get(
    "/campaigns/<campaign_id>/webhook-secret",
    summary="The signing secret of this campaign's webhook endpoint, to configure the receiver (needs pii)",
    tags=["campaigns"],
)
def webhook_secret(campaign_id: Annotated[str, Path(pattern=CAMPAIGN_ID)]) -> WebhookSecret:
    if not current_caller().may(Scope.PII):
        raise Forbidden("reading a signing secret needs the `pii` scope", "Authorization")
    campaign = _campaign(campaign_id)
    if campaign.webhook_url is None:
        raise Unprocessable("this campaign does not post to a webhook", "campaign_id")
    secret = webhook.endpoint_secret(get_channels_config(), campaign.webhook_url)
    audit("campaign.webhook_secret_read", campaign_id)
    return WebhookSecret(campaign_id=campaign_id, webhook_url=campaign.webhook_url, secret=secret)


def _campaign(campaign_id: str) -> Campaign:
    try:
        return store.get_campaign(campaign_id, get_settings())
    except store.CampaignNotFound as exc:
        raise NotFound(str(exc), "campaign_id") from None


def _segment_exists(segment_id: str, field: str) -> None:
    try:
        segments.get_segment(segment_id, get_settings())
    except segments.SegmentNotFound:
        raise NotFound(f"no segment {segment_id}; GET /segments lists them", field) from None


@router.post(
    "/campaigns",
    summary="Create a campaign: a broadcast, or a triggered one",
    tags=["campaigns"],
    status_code=201,
    openapi_extensions={"x-kith-errors": [404]},  # an unknown segment_id or trigger.segment_id
)
def create_campaign(body: CampaignCreate) -> Campaign:
    if body.transactional and not current_caller().may(Scope.ADMIN):
        # transactional skips the frequency cap and the holdout: only admins may declare a message an alert
        raise Forbidden("only an admin key may create a transactional campaign", "transactional")
    if body.webhook_url is not None:
        try:
            check_url(body.webhook_url)
        except EgressRefused as exc:
            raise Unprocessable(f"webhook_url {exc}; give a public https endpoint", "webhook_url") from None
    if body.segment_id:
        _segment_exists(body.segment_id, "segment_id")
    if body.trigger and body.trigger.segment_id:
        _segment_exists(body.trigger.segment_id, "trigger.segment_id")
    if body.send_at is not None and body.send_at < int(time.time()) - 60:
        raise Conflict("send_at is in the past; omit it and POST .../send to send now", "send_at")
    created = store.create_campaign(body, get_settings())
    audit("campaign.created", created.campaign_id, channel=str(created.channel), transactional=created.transactional)
    return shown(created)


@router.get("/campaigns", summary="All campaigns", tags=["campaigns"])
def list_campaigns() -> CampaignList:
    return CampaignList(items=[shown(c) for c in store.list_campaigns(get_settings())])


@router.get("/campaigns/<campaign_id>", summary="One campaign", tags=["campaigns"])
def get_campaign(campaign_id: Annotated[str, Path(pattern=CAMPAIGN_ID)]) -> Campaign:
    return shown(_campaign(campaign_id))


@router.post(
    "/campaigns/<campaign_id>/send",
    summary="Freeze the segment's members now and send (202: dispatch runs in the background)",
    tags=["campaigns"],
    status_code=202,
)
def send_campaign(campaign_id: Annotated[str, Path(pattern=CAMPAIGN_ID)]) -> Campaign:
    _campaign(campaign_id)
    try:
        sending = dispatch.start_send(campaign_id, get_settings())
    except store.CampaignStateError as exc:
        raise Conflict(str(exc), "campaign_id") from None
    audit("campaign.sent", campaign_id)
    return shown(sending)


@router.post("/campaigns/<campaign_id>/cancel", summary="Stop a campaign; queued messages drop", tags=["campaigns"])
def cancel_campaign(campaign_id: Annotated[str, Path(pattern=CAMPAIGN_ID)]) -> Campaign:
    campaign = _campaign(campaign_id)
    try:
        cancelled = store.transition(
            campaign,
            ("draft", "scheduled", "dispatching", "active"),
            "cancelled",
            get_settings(),
            cancelled_at=int(time.time()),
        )
    except store.CampaignStateError as exc:
        raise Conflict(str(exc), "campaign_id") from None
    audit("campaign.cancelled", campaign_id)
    return shown(cancelled)


@router.get(
    "/campaigns/<campaign_id>/report",
    summary="Per arm: targeted, held out, sent, delivered, failed, converted; intent-to-treat lift with a 95% CI",
    tags=["campaigns"],
)
def campaign_report(campaign_id: Annotated[str, Path(pattern=CAMPAIGN_ID)]) -> CampaignReport:
    return store.report(_campaign(campaign_id), get_settings())
