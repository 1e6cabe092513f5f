"""/campaigns: messages to a segment (or on a trigger) with a holdout, sent once, measured by lift."""

from __future__ import annotations

import time
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel

from shared.api.errors import Conflict, NotFound, Unprocessable
from shared.campaigns import dispatch, store
from shared.campaigns.model import Campaign, CampaignCreate, CampaignReport
from shared.egress import EgressRefused, check_url
from shared.segments import store as segments
from shared.settings import get_settings

router = Router()
CAMPAIGN_ID = r"^[0-9a-f]{16}$"


class CampaignList(BaseModel):
    items: list[Campaign]


def _campaign(campaign_id: str) -> Campaign:
    try:
        return store.get_campaign(campaign_id)
    except store.CampaignNotFound as exc:
        raise NotFound(str(exc), "campaign_id") from None


def _segment_exists(segment_id: str, field: str) -> None:
    try:
        segments.get_segment(segment_id)
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
    return store.create_campaign(body)


@router.get("/campaigns", summary="All campaigns", tags=["campaigns"])
def list_campaigns() -> CampaignList:
    return CampaignList(items=store.list_campaigns())


@router.get("/campaigns/<campaign_id>", summary="One campaign", tags=["campaigns"])
def get_campaign(campaign_id: Annotated[str, Path(pattern=CAMPAIGN_ID)]) -> Campaign:
    return _campaign(campaign_id)


@router.post(
    "/campaigns/<campaign_id>/send",
    summary="Freeze the segment's members now and send (202: dispatch runs in the background)",
    tags=["campaigns"],
    status_code=202,
)
def send_campaign(campaign_id: Annotated[str, Path(pattern=CAMPAIGN_ID)]) -> Campaign:
    _campaign(campaign_id)
    try:
        return dispatch.start_send(campaign_id)
    except store.CampaignStateError as exc:
        raise Conflict(str(exc), "campaign_id") from None


@router.post("/campaigns/<campaign_id>/cancel", summary="Stop a campaign; queued messages drop", tags=["campaigns"])
def cancel_campaign(campaign_id: Annotated[str, Path(pattern=CAMPAIGN_ID)]) -> Campaign:
    campaign = _campaign(campaign_id)
    try:
        return store.transition(
            campaign,
            ("draft", "scheduled", "dispatching", "active"),
            "cancelled",
            get_settings(),
            cancelled_at=int(time.time()),
        )
    except store.CampaignStateError as exc:
        raise Conflict(str(exc), "campaign_id") from None


@router.get(
    "/campaigns/<campaign_id>/report",
    summary="Per arm: targeted, held out, sent, delivered, failed, converted; intent-to-treat lift with a 95% CI",
    tags=["campaigns"],
)
def campaign_report(campaign_id: Annotated[str, Path(pattern=CAMPAIGN_ID)]) -> CampaignReport:
    return store.report(_campaign(campaign_id))
