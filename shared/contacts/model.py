"""What a contact is: identities, wallets and consent, with their validation and the errors of the
contacts context (docs/architecture.md, "Contexts")."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

IdentityKind = Literal["email", "discord", "telegram", "x"]
IDENTITY_KINDS: tuple[IdentityKind, ...] = ("email", "discord", "telegram", "x")
ConsentChannel = Literal["email", "discord", "telegram", "xmtp"]
CONSENT_CHANNELS: tuple[ConsentChannel, ...] = ("email", "discord", "telegram", "xmtp")
MAX_WALLETS = 20
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
# a username, a legacy name#1234 (no @ # : / \\ ` or spaces: never a URL), or a numeric user id
_DISCORD = re.compile(r"^(?:[a-z0-9_.]{2,32}|[^\s@#:/\\`]{2,32}#[0-9]{4}|[0-9]{17,20})$")
_TELEGRAM = re.compile(r"^(?:-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$")
_X = re.compile(r"^[A-Za-z0-9_]{1,15}$")


class ContactError(Exception):
    """A request about contacts cannot be honoured; `field` names the culprit."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ContactNotFound(ContactError):
    pass


class ContactConflict(ContactError):
    pass


class Suppressed(ContactConflict):
    pass


class Consent(BaseModel):
    email: bool = False
    discord: bool = False
    telegram: bool = False
    xmtp: bool = Field(default=False, description="messages to the wallet itself over XMTP")

    def allows(self, channel: str) -> bool:
        return bool(getattr(self, channel, False))


class ContactFields(BaseModel):
    """What a client sends: identities, the wallets they belong to, and consent for each channel."""

    name: str | None = Field(default=None, max_length=120)
    email: str | None = Field(default=None, max_length=254)
    discord: str | None = Field(default=None, max_length=40, description="username, or the numeric user id")
    telegram: str | None = Field(default=None, max_length=40, description="chat id (the bot API needs it) or @name")
    x: str | None = Field(default=None, max_length=16, description="X (Twitter) handle, with or without @")
    wallets: list[str] = Field(min_length=1, max_length=MAX_WALLETS)
    consent: Consent = Field(default_factory=Consent)
    source: str | None = Field(default=None, max_length=80, description="where the contact came from, e.g. allowlist")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if not _EMAIL.match(value):
            raise ValueError("must be an email address such as name@example.org")
        return value

    @field_validator("discord")
    @classmethod
    def _discord(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if not _DISCORD.match(value):
            raise ValueError("must be a Discord username (2-32 of a-z 0-9 _ .) or a numeric user id")
        return value

    @field_validator("telegram")
    @classmethod
    def _telegram(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _TELEGRAM.match(value):
            raise ValueError("must be a numeric Telegram chat id or an @username")
        return value

    @field_validator("x")
    @classmethod
    def _x(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().removeprefix("@").lower()
        if not _X.match(value):
            raise ValueError("must be an X handle: 1-15 letters, digits or _")
        return value

    @field_validator("wallets")
    @classmethod
    def _wallets(cls, value: list[str]) -> list[str]:
        seen: list[str] = []
        for index, address in enumerate(value):
            if not ADDRESS.match(address.strip()):
                raise ValueError(f"wallets[{index}] must be a 0x-prefixed 20-byte hex address")
            lowered = address.strip().lower()
            if lowered not in seen:
                seen.append(lowered)
        return seen

    @model_validator(mode="after")
    def _consent_needs_identity(self) -> ContactFields:
        for channel in ("email", "discord", "telegram"):
            if self.consent.allows(channel) and getattr(self, channel) is None:
                raise ValueError(f"consent.{channel} is true but no {channel} identity was given")
        return self

    def identities(self) -> dict[IdentityKind, str]:
        return {kind: value for kind in IDENTITY_KINDS if (value := getattr(self, kind)) is not None}


class Contact(ContactFields):
    contact_id: str
    created_at: int
    updated_at: int
    version: int


class ContactPage(BaseModel):
    items: list[Contact]
    next_cursor: str | None


class ImportRowError(BaseModel):
    row: int = Field(description="1-based line number in the file, the header being line 1")
    field: str | None
    message: str


class ImportReport(BaseModel):
    rows: int
    created: int
    updated: int
    unchanged: int
    errors: list[ImportRowError]


class Erasure(BaseModel):
    contact_id: str
    wallets_unlinked: int
    suppressions_added: int
