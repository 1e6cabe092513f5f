"""/contacts: off-chain identities linked to wallets, with consent; CSV import; erasure.

Keys without the `pii` scope see contacts masked (shared.privacy). Every change is in the audit log,
where a contact is named by a keyed reference rather than its id, so erasure leaves nothing linkable.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field

from shared import consent, contacts, imports, privacy
from shared.api.caller import audit, current_caller
from shared.api.cursor import decode_cursor, encode_cursor
from shared.api.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.auth import Scope
from shared.consent import Provenance
from shared.csvsafe import csv_text
from shared.settings import get_settings

router = Router()
CONTACT_ID = r"^[0-9a-f]{32}$"
# a synchronous import answers within API Gateway's 29 s; larger files go to POST /contacts/imports
SYNC_IMPORT_ROWS = 200
EXPORT_PAGE = 1000


class ContactUpdate(contacts.ContactFields):
    expected_version: int | None = Field(default=None, ge=1, description="the version you edited; 409 if stale")


class CsvImport(BaseModel):
    csv: str = Field(
        min_length=1,
        max_length=5_000_000,
        description="the file's text; header row naming columns among wallet(s), email, discord, telegram, x, "
        "name, source, consent (e.g. 'email;xmtp'), consent_<channel> (yes/no) and consent_proof (needed to "
        "grant again a consent the person withdrew)",
    )
    source: str | None = Field(default=None, max_length=80, description="recorded on rows without a source")


def _translate(error: contacts.ContactError) -> Exception:
    if isinstance(error, contacts.ContactNotFound):
        return NotFound(error.message, error.field)
    if isinstance(error, contacts.ContactConflict):
        return Conflict(error.message, error.field)
    return Unprocessable(error.message, error.field)


def shown(contact: contacts.Contact) -> contacts.Contact:
    """The contact as the caller may see it: whole with the pii scope, masked without."""
    if current_caller().sees_pii:
        return contact
    return contact.model_copy(
        update={
            "name": privacy.mask_text(contact.name),
            "email": privacy.mask_email(contact.email),
            "discord": privacy.mask_text(contact.discord),
            "telegram": privacy.mask_text(contact.telegram),
            "x": privacy.mask_text(contact.x),
        }
    )


def _provenance() -> Provenance:
    return Provenance(source="api", key_id=current_caller().key_id)


@router.post("/contacts", summary="Create a contact linked to one or more wallets", tags=["contacts"], status_code=201)
def create_contact(body: contacts.ContactFields) -> contacts.Contact:
    try:
        created = contacts.create_contact(body, get_settings(), provenance=_provenance())
    except contacts.ContactError as exc:
        raise _translate(exc) from None
    audit("contact.created", contacts.audit_ref(created.contact_id, get_settings()))
    return shown(created)


@router.get("/contacts", summary="Contacts, paged (masked without the pii scope)", tags=["contacts"])
def list_contacts(
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> contacts.ContactPage:
    items, after = contacts.list_contacts(limit, decode_cursor(cursor) if cursor else None, get_settings())
    return contacts.ContactPage(items=[shown(c) for c in items], next_cursor=encode_cursor(after) if after else None)


@router.get(
    "/contacts/export.csv",
    summary="Every contact as CSV (needs the pii scope); cells a spreadsheet would run as formulas are escaped",
    tags=["contacts"],
    responses={200: {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def export_contacts(cursor: Annotated[str | None, Query(max_length=4096)] = None) -> Response[str]:
    if not current_caller().may(Scope.PII):
        raise Forbidden("exporting contacts needs the `pii` scope; ask an admin for a key that has it", "Authorization")
    items, after = contacts.list_contacts(EXPORT_PAGE, decode_cursor(cursor) if cursor else None, get_settings())
    header = [
        "contact_id",
        "name",
        "email",
        "discord",
        "telegram",
        "x",
        "wallets",
        "source",
        *(f"consent_{channel}" for channel in contacts.CONSENT_CHANNELS),
    ]
    rows = [
        [c.contact_id, c.name, c.email, c.discord, c.telegram, c.x, ";".join(c.wallets), c.source]
        + ["yes" if c.consent.allows(ch) else "no" for ch in contacts.CONSENT_CHANNELS]
        for c in items
    ]
    headers = {"Content-Disposition": 'attachment; filename="contacts.csv"'}
    if after:
        headers["X-Next-Cursor"] = encode_cursor(after)
    audit("contacts.exported", "contacts", rows=len(rows))
    return Response(status_code=200, content_type="text/csv", body=csv_text(header, rows), headers=headers)


@router.get("/contacts/<contact_id>", summary="One contact", tags=["contacts"])
def get_contact(contact_id: Annotated[str, Path(pattern=CONTACT_ID)]) -> contacts.Contact:
    try:
        return shown(contacts.get_contact(contact_id, get_settings()))
    except contacts.ContactError as exc:
        raise _translate(exc) from None


@router.get(
    "/contacts/<contact_id>/consent",
    summary="The contact's consent ledger: every grant and withdrawal, with its source and API key",
    tags=["contacts"],
)
def consent_history(contact_id: Annotated[str, Path(pattern=CONTACT_ID)]) -> consent.ConsentHistory:
    try:
        contacts.get_contact(contact_id, get_settings())
    except contacts.ContactError as exc:
        raise _translate(exc) from None
    return consent.history(contact_id, get_settings())


@router.put("/contacts/<contact_id>", summary="Replace a contact's identities, wallets and consent", tags=["contacts"])
def update_contact(contact_id: Annotated[str, Path(pattern=CONTACT_ID)], body: ContactUpdate) -> contacts.Contact:
    fields = contacts.ContactFields(**body.model_dump(exclude={"expected_version"}))
    try:
        updated = contacts.update_contact(
            contact_id, fields, get_settings(), expected_version=body.expected_version, provenance=_provenance()
        )
    except contacts.ContactError as exc:
        raise _translate(exc) from None
    audit("contact.updated", contacts.audit_ref(contact_id, get_settings()), version=updated.version)
    return shown(updated)


@router.delete(
    "/contacts/<contact_id>",
    summary="Erase a contact's personal data and suppress its identities and wallets",
    tags=["contacts"],
)
def erase_contact(contact_id: Annotated[str, Path(pattern=CONTACT_ID)]) -> contacts.Erasure:
    reference = contacts.audit_ref(contact_id, get_settings())
    try:
        erased = contacts.erase_contact(contact_id, get_settings())
    except contacts.ContactError as exc:
        raise _translate(exc) from None
    audit("contact.erased", reference, suppressions_added=erased.suppressions_added)
    return erased


@router.post(
    "/contacts/import",
    summary=f"Import up to {SYNC_IMPORT_ROWS} contacts from CSV now; each bad row is reported and skipped",
    tags=["contacts"],
)
def import_contacts(body: CsvImport) -> contacts.ImportReport:
    try:
        report = contacts.import_csv(
            body.csv,
            get_settings(),
            default_source=body.source,
            row_limit=SYNC_IMPORT_ROWS,
            key_id=current_caller().key_id,
            too_many=f"the file has more than {SYNC_IMPORT_ROWS} rows; POST it to /contacts/imports, which "
            "imports it in the background and reports progress",
        )
    except contacts.ContactError as exc:
        raise _translate(exc) from None
    audit("contacts.imported", "contacts", rows=report.rows, created=report.created, updated=report.updated)
    return report


@router.post(
    "/contacts/imports",
    summary="Import a CSV of any size in the background; follow GET /contacts/imports/{job_id}",
    tags=["contacts"],
    status_code=202,
)
def start_import(body: CsvImport) -> imports.ImportJob:
    try:
        job = imports.start_import(body.csv, body.source, current_caller().key_id, get_settings())
    except contacts.ContactError as exc:
        raise _translate(exc) from None
    audit("contacts.import_started", job.job_id, rows=job.rows)
    return job


@router.get("/contacts/imports/<job_id>", summary="A background import's progress and bad rows", tags=["contacts"])
def import_progress(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]) -> imports.ImportJob:
    try:
        return imports.import_status(job_id, get_settings())
    except contacts.ContactError as exc:
        raise _translate(exc) from None


def masked_contacts(items: list[contacts.Contact]) -> list[contacts.Contact]:
    return [shown(c) for c in items]
