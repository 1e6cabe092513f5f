"""Reading keys back: every inverse of a shape in shapes.py, so no caller strips a prefix by hand."""

from __future__ import annotations

from typing import Final

from shared.store.keys.shapes import (
    CONTACT_PREFIX,
    HEALTH_PREFIX,
    HOLDING_PREFIX,
    LENDING_POSITION_PREFIX,
    MEMBER_PREFIX,
    TAG_PREFIX,
    TARGET_PREFIX,
)

WALLET_PREFIX: Final = "WALLET#"
PROFILE_SK: Final = "PROFILE"
STATE_SK: Final = "STATE"
LENDING_SUMMARY_SK: Final = "LENDING"


class KeyShapeError(ValueError):
    """A key that is not of the shape asked for."""


def _after(prefix: str, text: str) -> str:
    if not text.startswith(prefix):
        raise KeyShapeError(f"{text!r} does not start with {prefix!r}")
    return text[len(prefix) :]


def wallet_of(pk: str) -> str:
    """The address of a wallet partition (pk=WALLET#<addr>)."""
    return _after(WALLET_PREFIX, pk)


def activity_wallet_of(pk: str) -> str:
    """The address of a timeline partition (pk=ACTIVITY#<addr>)."""
    return _after("ACTIVITY#", pk)


WalletItemKind = str
"""One of: profile, state, holding, tag, contact, lending_position, health, lending_summary, other."""

_WALLET_ITEM_PREFIXES: Final = (
    (HOLDING_PREFIX, "holding"),
    (TAG_PREFIX, "tag"),
    (CONTACT_PREFIX, "contact"),
    (LENDING_POSITION_PREFIX, "lending_position"),
    (HEALTH_PREFIX, "health"),
)
_WALLET_ITEM_NAMES: Final = {PROFILE_SK: "profile", STATE_SK: "state", LENDING_SUMMARY_SK: "lending_summary"}


def wallet_item_kind(sk: str) -> WalletItemKind:
    """Which of a wallet partition's items a sort key names."""
    if sk in _WALLET_ITEM_NAMES:
        return _WALLET_ITEM_NAMES[sk]
    for prefix, kind in _WALLET_ITEM_PREFIXES:
        if sk.startswith(prefix):
            return kind
    return "other"


def holding_of(sk: str) -> tuple[int, str]:
    """(chain id, contract) of a holding's sort key (HOLD#<chain>#<contract>)."""
    chain_id, contract = _after(HOLDING_PREFIX, sk).split("#", 1)
    return int(chain_id), contract


def pool_of(sk: str) -> tuple[int, str]:
    """(chain id, pool) of a lending position's or health record's sort key."""
    rest = sk.removeprefix(LENDING_POSITION_PREFIX) if sk.startswith(LENDING_POSITION_PREFIX) else None
    if rest is None:
        rest = _after(HEALTH_PREFIX, sk)
    chain_id, pool = rest.split("#", 1)
    return int(chain_id), pool


def tag_of(sk: str) -> str:
    return _after(TAG_PREFIX, sk)


def contact_of(sk_or_pk: str) -> str:
    """The contact id of a CONTACT#<id> key (the contact's pk, or its link's sk in a wallet partition)."""
    return _after(CONTACT_PREFIX, sk_or_pk)


def segment_of(pk: str) -> str:
    return _after("SEGMENT#", pk)


def member_of(sk: str) -> str:
    """The address of a segment member's sort key (MEMBER#<addr>)."""
    return _after(MEMBER_PREFIX, sk)


def campaign_of(pk: str) -> str:
    return _after("CAMPAIGN#", pk)


def target_of(sk: str) -> tuple[str, str]:
    """(address, occurrence) of a campaign target's sort key (TARGET#<addr>#<occurrence>)."""
    address, occurrence = _after(TARGET_PREFIX, sk).split("#", 1)
    return address, occurrence


def send_ref_of(gsi3sk: str) -> tuple[str, str]:
    """(address, occurrence) of a send's status-index sort key (<addr>#<occurrence>)."""
    address, occurrence = gsi3sk.split("#", 1)
    return address, occurrence


def frequency_wallet_of(pk: str) -> str:
    """The address of a send-frequency item (pk=FREQ#<addr>)."""
    return _after("FREQ#", pk)


def attribution_wallet_of(pk: str) -> str:
    """The address of a conversion window's partition (pk=ATTRIB#<addr>)."""
    return _after("ATTRIB#", pk)


def due_campaign_of(gsi3sk: str) -> str:
    """The campaign id of a scheduled campaign's due-index sort key (<send at:012>#<id>)."""
    return gsi3sk.split("#", 1)[1]


def converted_campaign_of(gsi1sk: str) -> str:
    """The campaign id of a conversion's by-event sort key (<campaign>#<addr>#<occurrence>)."""
    return gsi1sk.split("#", 1)[0]


def suppressed_wallet_of(pk: str) -> str:
    """The address of a wallet suppression's partition key (SUPPRESS#wallet#<addr>)."""
    return _after("SUPPRESS#wallet#", pk)
