"""Request and response models of the API: the single source of its OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.auth import Scope
from shared.profiles.model import Activity
from shared.wallets import WalletSummary


class ErrorBody(BaseModel):
    error: str = Field(description="machine-readable code, e.g. not_found")
    field: str | None = Field(description="the request field at fault, when one is")
    message: str = Field(description="what went wrong and what to do next")


class WalletPage(BaseModel):
    items: list[WalletSummary]
    next_cursor: str | None = Field(description="pass as `cursor` to get the next page; null on the last page")


class TimelinePage(BaseModel):
    items: list[Activity]
    next_cursor: str | None


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=80, pattern=r"^[\w .@-]+$")
    scopes: list[Scope] = Field(min_length=1)


class KeyCreated(BaseModel):
    key_id: str
    name: str
    scopes: list[Scope]
    secret: str = Field(description="shown once; store it now, Kith keeps only its hash")


class KeyInfo(BaseModel):
    key_id: str
    name: str
    scopes: list[Scope]
    created_at: int
    revoked_at: int | None
    last_four: str


class KeyList(BaseModel):
    items: list[KeyInfo]
