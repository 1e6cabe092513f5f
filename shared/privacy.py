"""Masking for keys without the `pii` scope: they see that a contact has an email, not which one.

Masks keep one leading character so a person can tell two contacts apart, and nothing that would let
anyone recover the value. URLs keep scheme and host: their paths and queries carry tokens.
"""

from __future__ import annotations

from shared.egress import redacted

MASK = "***"


def mask_text(value: str | None) -> str | None:
    if not value:
        return value
    return value[0] + MASK


def mask_email(value: str | None) -> str | None:
    if not value:
        return value
    local, _, _domain = value.partition("@")
    return f"{local[:1]}{MASK}@{MASK}"


def mask_url(value: str | None) -> str | None:
    return redacted(value) if value else value
