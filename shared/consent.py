"""The consent ledger: every change of a contact's consent, appended, never edited (docs/architecture.md, "Key shapes").

Each entry says which channel, the new value, when, where it came from (the API, an import and its
source) and which API key made it. A contact's current consent is the sum of its ledger; the ledger
is what answers "who opted this person in, and on what grounds?", and it is what stops an import
from quietly undoing an opt-out: a channel whose last entry withdrew consent is granted again only by
a row that says so explicitly, with the proof of the new consent (shared.contacts.import_csv).
Entries hold ids, never personal data; erasing the contact deletes its ledger with it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.codec import DocCodec
from shared.store.paging import query_all


class Provenance(BaseModel):
    """Where a change comes from: `source` (api, import:<name>, cli) and the API key behind it."""

    source: str = Field(max_length=120)
    key_id: str = ""
    proof: str | None = Field(default=None, max_length=200, description="what shows the person consented")


class ConsentEntry(BaseModel):
    channel: str
    granted: bool
    at: int
    source: str
    key_id: str
    proof: str | None = None


class ConsentHistory(BaseModel):
    contact_id: str
    items: list[ConsentEntry]


CONSENT_ENTRY_CODEC = DocCodec(ConsentEntry, attribute="entry")


def entry_puts(
    contact_id: str,
    before: dict[str, bool],
    after: dict[str, bool],
    provenance: Provenance,
    at: int,
    settings: Settings,
) -> list[dict[str, Any]]:
    """TransactWriteItems Puts appending one entry per channel whose consent changes (a new contact's
    granted channels count as changes from "never asked")."""
    actions: list[dict[str, Any]] = []
    for channel, granted in after.items():
        if before.get(channel, False) == granted and channel in before:
            continue
        if channel not in before and not granted:
            continue
        entry = ConsentEntry(
            channel=channel,
            granted=granted,
            at=at,
            source=provenance.source,
            key_id=provenance.key_id,
            proof=provenance.proof,
        )
        # milliseconds of the write, not `at`: two changes within one second keep their order
        written_ms = time.time_ns() // 1_000_000
        key = keys.consent_log_key(contact_id, written_ms, channel, secrets.token_hex(4))
        actions.append(
            {
                "Put": {
                    "TableName": settings.app_table,
                    "Item": CONSENT_ENTRY_CODEC.encode(key, entry),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )
    return actions


def _ledger_items(contact_id: str, settings: Settings) -> list[dict[str, Any]]:
    return list(
        query_all(
            settings.app_table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues=dynamo.to_item({":p": keys.consent_log_pk(contact_id)}),
            ConsistentRead=True,
        )
    )


def history(contact_id: str, settings: Settings) -> ConsentHistory:
    entries = [CONSENT_ENTRY_CODEC.decode(i) for i in _ledger_items(contact_id, settings)]
    return ConsentHistory(contact_id=contact_id, items=entries)


def withdrawn(contact_id: str, channels: Iterable[str], settings: Settings) -> dict[str, int]:
    """Of `channels`, those whose latest entry withdrew consent: {channel: when}."""
    wanted = set(channels)
    latest: dict[str, ConsentEntry] = {}
    for entry in history(contact_id, settings).items:  # oldest first: the sort key starts with the time
        if entry.channel in wanted:
            latest[entry.channel] = entry
    return {channel: entry.at for channel, entry in latest.items() if not entry.granted}


def erase(contact_id: str, settings: Settings) -> int:
    """Delete the ledger of an erased contact (the only delete the ledger ever sees)."""
    found = _ledger_items(contact_id, settings)
    dynamo.batch_write(settings.app_table, deletes=[{"pk": i["pk"], "sk": i["sk"]} for i in found])
    return len(found)
