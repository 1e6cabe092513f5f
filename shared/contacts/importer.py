"""Contacts from a CSV file: one contact created or merged per row, a bad row reported and skipped."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import ValidationError

from shared import consent
from shared.consent import Provenance
from shared.contacts.model import (
    CONSENT_CHANNELS,
    Consent,
    ContactError,
    ContactFields,
    ImportReport,
    ImportRowError,
)
from shared.contacts.store import create_contact, find_contact, update_contact
from shared.settings import Settings

MAX_IMPORT_ROWS = 5000
_TRUE = {"1", "true", "yes", "y", "on", "x"}
_FALSE = {"", "0", "false", "no", "n", "off"}
_KNOWN_COLUMNS = {
    "name",
    "email",
    "discord",
    "telegram",
    "x",
    "wallet",
    "wallets",
    "source",
    "consent",
    "consent_proof",
} | {f"consent_{c}" for c in CONSENT_CHANNELS}


def csv_rows(text: str, line_offset: int = 0) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    if not reader.fieldnames:
        raise ContactError("the CSV is empty; the first line must name the columns, e.g. wallet,email", "body")
    columns = [c.strip().lower() for c in reader.fieldnames]
    unknown = [c for c in columns if c not in _KNOWN_COLUMNS]
    if unknown:
        raise ContactError(
            f"unknown column {unknown[0]!r}; known columns are {', '.join(sorted(_KNOWN_COLUMNS))}", "body"
        )
    if "wallet" not in columns and "wallets" not in columns:
        raise ContactError("the CSV needs a wallet (or wallets) column", "body")
    reader.fieldnames = columns
    try:
        for row in reader:
            yield reader.line_num + line_offset, {k: (v or "").strip() for k, v in row.items() if k is not None}
    except csv.Error as exc:
        raise ContactError(
            f"the CSV is malformed at line {reader.line_num}: {exc}; fix that line and retry", "csv"
        ) from None


def _flag(value: str, column: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{column} must be yes/no, true/false or 1/0, not {value!r}")


def _fields_from_row(row: dict[str, str]) -> ContactFields:
    wallets = re.split(r"[;\s|]+", row.get("wallets") or row.get("wallet") or "")
    consent: dict[str, bool] = {}
    listed = {c.strip().lower() for c in re.split(r"[;\s|]+", row.get("consent", "")) if c.strip()}
    for channel in listed:
        if channel not in CONSENT_CHANNELS:
            raise ValueError(f"consent lists {channel!r}; channels are {', '.join(CONSENT_CHANNELS)}")
        consent[channel] = True
    for channel in CONSENT_CHANNELS:
        column = f"consent_{channel}"
        if column in row:
            consent[channel] = _flag(row[column], column)
    return ContactFields(
        name=row.get("name") or None,
        email=row.get("email") or None,
        discord=row.get("discord") or None,
        telegram=row.get("telegram") or None,
        x=row.get("x") or None,
        wallets=[w for w in wallets if w],
        consent=Consent(**consent),
        source=row.get("source") or None,
    )


def import_csv(
    text: str,
    settings: Settings,
    default_source: str | None = None,
    row_limit: int | None = MAX_IMPORT_ROWS,
    on_row: Callable[[int], None] | None = None,
    key_id: str = "",
    line_offset: int = 0,
    too_many: str | None = None,
) -> ImportReport:
    """Create or merge one contact per row; a bad row is reported with its line and skipped, never fatal.

    A row whose identity already belongs to a contact merges into it: wallets are added and the
    row's consent replaces the contact's for the channels the row names. A channel the person
    withdrew consent from is granted again only when the row names it (consent_<channel>=yes or the
    consent list) and gives consent_proof; otherwise the row is refused, naming the channel.
    `line_offset` shifts reported line numbers (a background import reads the file in chunks).
    """
    report = ImportReport(rows=0, created=0, updated=0, unchanged=0, errors=[])
    # counted before any row is imported: a file over the limit changes nothing
    if row_limit is not None and sum(1 for _ in csv_rows(text, line_offset)) > row_limit:
        raise ContactError(
            too_many or f"the file has more than {row_limit} rows; split it, or import it with the contacts CLI", "csv"
        )
    for line, row in csv_rows(text, line_offset):
        report.rows += 1
        if on_row is not None:
            on_row(report.rows)
        try:
            fields = _fields_from_row(row)
            if default_source and not fields.source:
                fields = fields.model_copy(update={"source": default_source})
            provenance = Provenance(
                source=f"import:{fields.source or 'csv'}", key_id=key_id, proof=row.get("consent_proof") or None
            )
            outcome = _upsert(fields, row, settings, provenance)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or None
            message = first["msg"].removeprefix("Value error, ")
            report.errors.append(ImportRowError(row=line, field=field, message=message))
            continue
        except (ValueError, ContactError) as exc:
            field = exc.field if isinstance(exc, ContactError) else None
            report.errors.append(ImportRowError(row=line, field=field, message=str(exc)))
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def _upsert(fields: ContactFields, row: dict[str, str], settings: Settings, provenance: Provenance) -> str:
    existing = find_contact(fields, settings)
    if existing is None:
        create_contact(fields, settings, provenance=provenance)
        return "created"
    named_consent = {
        c
        for c in CONSENT_CHANNELS
        if f"consent_{c}" in row or c in {x.lower() for x in re.split(r"[;\s|]+", row.get("consent", ""))}
    }
    regranted = [c for c in named_consent if fields.consent.allows(c) and not existing.consent.allows(c)]
    if regranted and not provenance.proof:
        opted_out = consent.withdrawn(existing.contact_id, regranted, settings)
        if opted_out:
            channel = sorted(opted_out)[0]
            raise ContactError(
                f"this contact withdrew {channel} consent; an import grants it again only with "
                f"consent_{channel}=yes and a consent_proof saying where the person consented anew",
                f"consent_{channel}",
            )
    merged_consent = existing.consent.model_copy(update={c: fields.consent.allows(c) for c in named_consent})
    values: dict[str, Any] = existing.model_dump(include=set(ContactFields.model_fields))
    values.update({str(kind): value for kind, value in fields.identities().items()})
    values.update(
        name=fields.name or existing.name,
        wallets=existing.wallets + [w for w in fields.wallets if w not in existing.wallets],
        consent=merged_consent,
    )
    merged = ContactFields(**values)
    if (
        merged.model_dump()
        == ContactFields(**existing.model_dump(include=set(ContactFields.model_fields))).model_dump()
    ):
        return "unchanged"
    update_contact(existing.contact_id, merged, settings, expected_version=existing.version, provenance=provenance)
    return "updated"
