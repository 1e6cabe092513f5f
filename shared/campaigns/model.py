"""Campaign definitions, their states, and what the API accepts to create one (docs/architecture.md, "Campaigns")."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from shared.channels import Channel, validate_template

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
DAY = 86_400
ONCE = "once"  # the occurrence of a broadcast: each wallet is targeted once

CampaignStatus = Literal["draft", "scheduled", "dispatching", "sent", "active", "cancelled"]
Arm = Literal["treatment", "holdout"]
TargetStatus = Literal["queued", "held_out", "delivered", "failed", "skipped", "cancelled"]
TriggerEvent = Literal["segment.entered", "lending.band"]


class MessageTemplate(BaseModel):
    subject: str | None = Field(default=None, max_length=200, description="email subject; other channels ignore it")
    body: str = Field(
        min_length=1,
        max_length=4000,
        description="text with {{ field }} placeholders, e.g. {{ address }}, {{ score }}, {{ contact.name }}, "
        '{{ trigger.band }}, {{ name | default:"friend" }}; escaped for the channel',
    )

    @field_validator("subject", "body")
    @classmethod
    def _placeholders_parse(cls, value: str | None) -> str | None:
        if value is not None:
            validate_template(value)
        return value


class ConversionGoal(BaseModel):
    """The on-chain action that counts as converting, declared before the send."""

    action: Literal["transfer_in", "transfer_out", "any_transfer", "vote", "lending"] = Field(
        description="transfer_in: the wallet receives the token (buys, claims); vote: casts a vote; "
        "lending: any pool action (supply, repay, ...)"
    )
    chain_id: int | None = Field(default=None, ge=1, description="only on this chain")
    contract: str | None = Field(default=None, description="only this token, pool or governor")
    lending_action: Literal["supply", "withdraw", "borrow", "repay"] | None = None
    window_days: int = Field(default=14, ge=1, le=365, description="counted until this long after the send")

    @field_validator("contract")
    @classmethod
    def _contract(cls, value: str | None) -> str | None:
        if value is not None and not ADDRESS.match(value):
            raise ValueError("must be a 0x-prefixed 20-byte hex address")
        return value.lower() if value else None


class Trigger(BaseModel):
    event: TriggerEvent = Field(
        description="segment.entered: a wallet joins `segment_id`; lending.band: a health "
        "factor falls into a worse band (a transactional alert)"
    )
    segment_id: str | None = Field(default=None, max_length=40)
    cooldown_days: float = Field(default=7, ge=0, le=365, description="a wallet is targeted at most once per cooldown")

    @model_validator(mode="after")
    def _segment_for_entered(self) -> Trigger:
        if self.event == "segment.entered" and not self.segment_id:
            raise ValueError("trigger segment.entered needs segment_id")
        return self

    @property
    def key(self) -> str:
        return f"{self.event}#{self.segment_id}" if self.event == "segment.entered" else self.event


class CampaignCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    segment_id: str | None = Field(default=None, max_length=40, description="the audience of a broadcast")
    channel: Channel
    template: MessageTemplate
    holdout_pct: float = Field(default=10, ge=0, le=50, description="share of targets held out to measure lift")
    conversion: ConversionGoal | None = None
    send_at: int | None = Field(default=None, ge=0, description="unix time to send a broadcast; omit to send by hand")
    trigger: Trigger | None = Field(default=None, description="send to each wallet when this happens, instead")
    transactional: bool = Field(default=False, description="an alert: never held out, ignores the frequency cap")
    webhook_url: str | None = Field(default=None, max_length=2000, description="where a webhook campaign posts")

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CampaignCreate:
        if self.trigger is None and not self.segment_id:
            raise ValueError("a broadcast needs segment_id (or give a trigger for a triggered campaign)")
        if self.trigger is not None and self.send_at is not None:
            raise ValueError("a triggered campaign sends when its trigger fires; drop send_at")
        if self.channel == Channel.WEBHOOK and not self.webhook_url:
            raise ValueError("a webhook campaign needs webhook_url")
        if self.trigger is not None and self.trigger.event == "lending.band" and not self.transactional:
            raise ValueError("lending.band alerts are transactional: set transactional to true")
        if self.transactional:
            self.holdout_pct = 0
        return self


class Campaign(CampaignCreate):
    campaign_id: str
    status: CampaignStatus
    created_at: int
    sent_at: int | None = None
    cancelled_at: int | None = None
    version: int = 1


class DispatchProgress(BaseModel):
    pages: int = 0
    members_seen: int = 0
    done: bool = False


class ArmCounts(BaseModel):
    targeted: int = 0
    held_out: int = 0
    skipped: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    converted: int = 0


class Lift(BaseModel):
    """Intent-to-treat: every wallet assigned to treatment counts, whether or not its message arrived."""

    treatment_rate: float | None
    holdout_rate: float | None
    absolute_lift: float | None = Field(description="treatment rate minus holdout rate")
    ci95_low: float | None
    ci95_high: float | None
    relative_lift: float | None


class CampaignReport(BaseModel):
    campaign_id: str
    status: CampaignStatus
    dispatch: DispatchProgress
    treatment: ArmCounts
    holdout: ArmCounts
    skipped_reasons: dict[str, int]
    lift: Lift
    conversion: ConversionGoal | None
