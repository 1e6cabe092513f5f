"""/contacts: off-chain identities linked to wallets, with consent; CSV import; erasure."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field

from shared import contacts
from shared.api.cursor import decode_cursor, encode_cursor
from shared.api.errors import Conflict, NotFound, Unprocessable

router = Router()
CONTACT_ID = r"^[0-9a-f]{32}$"


class ContactUpdate(contacts.ContactFields):
    expected_version: int | None = Field(default=None, ge=1, description="the version you edited; 409 if stale")


class CsvImport(BaseModel):
    csv: str = Field(
        min_length=1,
        max_length=5_000_000,
        description="the file's text; header row naming columns among wallet(s), email, discord, telegram, x, "
        "name, source, consent (e.g. 'email;xmtp') and consent_<channel> (yes/no)",
    )
    source: str | None = Field(default=None, max_length=80, description="recorded on rows without a source")


def _translate(error: contacts.ContactError) -> Exception:
    if isinstance(error, contacts.ContactNotFound):
        return NotFound(error.message, error.field)
    if isinstance(error, contacts.ContactConflict):
        return Conflict(error.message, error.field)
    return Unprocessable(error.message, error.field)


@router.post("/contacts", summary="Create a contact linked to one or more wallets", tags=["contacts"], status_code=201)
def create_contact(body: contacts.ContactFields) -> contacts.Contact:
    try:
        return contacts.create_contact(body)
    except contacts.ContactError as exc:
        raise _translate(exc) from None


@router.get("/contacts", summary="Contacts, paged", tags=["contacts"])
def list_contacts(
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> contacts.ContactPage:
    items, after = contacts.list_contacts(limit, decode_cursor(cursor) if cursor else None)
    return contacts.ContactPage(items=items, next_cursor=encode_cursor(after) if after else None)


@router.get("/contacts/<contact_id>", summary="One contact", tags=["contacts"])
def get_contact(contact_id: Annotated[str, Path(pattern=CONTACT_ID)]) -> contacts.Contact:
    try:
        return contacts.get_contact(contact_id)
    except contacts.ContactError as exc:
        raise _translate(exc) from None


@router.put("/contacts/<contact_id>", summary="Replace a contact's identities, wallets and consent", tags=["contacts"])
def update_contact(contact_id: Annotated[str, Path(pattern=CONTACT_ID)], body: ContactUpdate) -> contacts.Contact:
    fields = contacts.ContactFields(**body.model_dump(exclude={"expected_version"}))
    try:
        return contacts.update_contact(contact_id, fields, expected_version=body.expected_version)
    except contacts.ContactError as exc:
        raise _translate(exc) from None


@router.delete(
    "/contacts/<contact_id>",
    summary="Erase a contact's personal data and suppress its identities and wallets",
    tags=["contacts"],
)
def erase_contact(contact_id: Annotated[str, Path(pattern=CONTACT_ID)]) -> contacts.Erasure:
    try:
        return contacts.erase_contact(contact_id)
    except contacts.ContactError as exc:
        raise _translate(exc) from None


@router.post(
    "/contacts/import", summary="Import contacts from CSV; each bad row is reported and skipped", tags=["contacts"]
)
def import_contacts(body: CsvImport) -> contacts.ImportReport:
    try:
        return contacts.import_csv(body.csv, default_source=body.source)
    except contacts.ContactError as exc:
        raise _translate(exc) from None
