"""Contacts: the off-chain identities (email, Discord, Telegram, X) linked to wallets, with consent.

Personal data lives in exactly one item, the contact document (A23). Everything that must outlive
an erasure, such as the identity index (A25) and the suppression list (A26), is keyed by a keyed
hash of the identity, never by its text, so erasing a contact is deleting that one document and
its links, and nothing personal remains anywhere.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from shared import consent
from shared.consent import Provenance
from shared.settings import Settings, get_settings
from shared.store import dynamo, keys
from shared.store.secrets import parameter_secret

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


def _hash(kind: str, value: str, settings: Settings) -> str:
    legacy = keys.identity_hash_key()
    secret = parameter_secret(settings.identity_key_parameter, (settings.app_table, legacy["pk"], legacy["sk"]))
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def audit_ref(contact_id: str, settings: Settings | None = None) -> str:
    """How the audit log names a contact: a keyed hash of its id, the same for every action on it, that
    says nothing once the contact is erased (the id itself would link the log to whatever kept it)."""
    return "contact:" + _hash("contact", contact_id, settings or get_settings())[:20]


def _db() -> Any:
    return dynamo.client("dynamodb")


def _document_item(contact: Contact) -> dict[str, Any]:
    return {
        **dynamo.to_item(keys.contact_key(contact.contact_id)),
        **dynamo.to_item(keys.contact_list_gsi(contact.contact_id)),
        "doc": {"S": contact.model_dump_json()},
        "v": {"N": str(contact.version)},
    }


def _identity_item(kind: str, digest: str, contact_id: str) -> dict[str, Any]:
    return {**dynamo.to_item(keys.identity_key(kind, digest)), "contact_id": {"S": contact_id}}


def _link_item(address: str, contact: Contact) -> dict[str, Any]:
    # the consented channels ride on the link, so a dispatch learns a wallet's reach from its own partition
    channels = [c for c in CONSENT_CHANNELS if contact.consent.allows(c)]
    return {
        **dynamo.to_item(keys.wallet_contact_key(address, contact.contact_id)),
        "contact_id": {"S": contact.contact_id},
        "channels": {"L": [{"S": c} for c in channels]},
    }


def suppressed(fields: ContactFields, settings: Settings | None = None) -> str | None:
    """The first identity or wallet of `fields` on the suppression list, as a field name."""
    settings = settings or get_settings()
    probes: list[tuple[str, dict[str, str]]] = [
        (kind, keys.suppression_key(kind, _hash(kind, value, settings))) for kind, value in fields.identities().items()
    ]
    probes += [(f"wallets[{i}]", keys.suppression_key("wallet", a)) for i, a in enumerate(fields.wallets)]
    found = {i["pk"]["S"] for i in dynamo.batch_get(settings.app_table, [dynamo.to_item(k) for _, k in probes])}
    for name, key in probes:
        if key["pk"] in found:
            return name
    return None


def wallet_suppressed(addresses: Iterable[str], settings: Settings | None = None) -> set[str]:
    """Which of these wallets are on the suppression list (BatchGetItem, 100 keys a request)."""
    settings = settings or get_settings()
    wanted = sorted({a.lower() for a in addresses})
    result: set[str] = set()
    for start in range(0, len(wanted), 100):
        chunk = [dynamo.to_item(keys.suppression_key("wallet", a)) for a in wanted[start : start + 100]]
        for item in dynamo.batch_get(settings.app_table, chunk):
            result.add(item["pk"]["S"].rsplit("#", 1)[1])
    return result


def _owner_of(kind: str, value: str, settings: Settings) -> str | None:
    found = (
        _db()
        .get_item(
            TableName=settings.app_table,
            Key=dynamo.to_item(keys.identity_key(kind, _hash(kind, value, settings))),
            ConsistentRead=True,
        )
        .get("Item")
    )
    return found["contact_id"]["S"] if found else None


def find_contact(fields: ContactFields, settings: Settings | None = None) -> Contact | None:
    """The existing contact that already owns one of these identities, if any."""
    settings = settings or get_settings()
    for kind, value in fields.identities().items():
        owner = _owner_of(kind, value, settings)
        if owner:
            return get_contact(owner, settings)
    return None


API_PROVENANCE = Provenance(source="api")


def _consent_map(consent: Consent) -> dict[str, bool]:
    return {channel: consent.allows(channel) for channel in CONSENT_CHANNELS}


def create_contact(
    fields: ContactFields,
    settings: Settings | None = None,
    now: int | None = None,
    provenance: Provenance = API_PROVENANCE,
) -> Contact:
    settings = settings or get_settings()
    now = now or int(time.time())
    refused = suppressed(fields, settings)
    if refused:
        raise Suppressed(
            f"{refused} was erased earlier and is suppressed; it cannot be imported again", refused.split("[")[0]
        )
    contact = Contact(**fields.model_dump(), contact_id=uuid.uuid4().hex, created_at=now, updated_at=now, version=1)
    actions: list[dict[str, Any]] = [
        {"Put": {"TableName": settings.app_table, "Item": _document_item(contact)}},
    ]
    for kind, value in fields.identities().items():
        actions.append(_claim_identity(kind, value, contact.contact_id, settings))
    for address in contact.wallets:
        actions.append({"Put": {"TableName": settings.app_table, "Item": _link_item(address, contact)}})
    actions += consent.entry_puts(contact.contact_id, {}, _consent_map(contact.consent), provenance, now, settings)
    _transact(actions, fields, settings)
    return contact


def _claim_identity(kind: str, value: str, contact_id: str, settings: Settings) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": settings.app_table,
            "Item": _identity_item(kind, _hash(kind, value, settings), contact_id),
            "ConditionExpression": "attribute_not_exists(pk) OR contact_id = :me",
            "ExpressionAttributeValues": {":me": {"S": contact_id}},
        }
    }


def _transact(actions: list[dict[str, Any]], fields: ContactFields, settings: Settings) -> None:
    try:
        _db().transact_write_items(TransactItems=actions)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        for kind, value in fields.identities().items():
            if _owner_of(kind, value, settings):
                raise ContactConflict(
                    f"this {kind} already belongs to another contact; update that contact instead", kind
                ) from None
        raise ContactConflict("the contact changed meanwhile; read it again and retry", "version") from None


def get_contact(contact_id: str, settings: Settings | None = None) -> Contact:
    settings = settings or get_settings()
    found = (
        _db()
        .get_item(TableName=settings.app_table, Key=dynamo.to_item(keys.contact_key(contact_id)), ConsistentRead=True)
        .get("Item")
    )
    if not found:
        raise ContactNotFound(f"no contact {contact_id}; GET /contacts lists them", "contact_id")
    return Contact.model_validate_json(found["doc"]["S"])


def _links(address: str, settings: Settings) -> list[dict[str, Any]]:
    """The wallet's contact links (A24), each carrying the channels its contact consented to."""
    response = _db().query(
        TableName=settings.app_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
        ExpressionAttributeValues={":pk": {"S": keys.wallet_pk(address)}, ":c": {"S": keys.CONTACT_PREFIX}},
    )
    return list(response["Items"])


def contacts_of_wallet(address: str, settings: Settings | None = None) -> list[Contact]:
    settings = settings or get_settings()
    return load_contacts([i["contact_id"]["S"] for i in _links(address, settings)], settings)


def load_contacts(contact_ids: Iterable[str], settings: Settings | None = None) -> list[Contact]:
    settings = settings or get_settings()
    wanted = sorted(set(contact_ids))
    items = dynamo.batch_get(settings.app_table, [dynamo.to_item(keys.contact_key(c)) for c in wanted])
    return sorted((Contact.model_validate_json(i["doc"]["S"]) for i in items), key=lambda c: c.created_at)


def list_contacts(
    limit: int, after: dict[str, Any] | None, settings: Settings | None = None
) -> tuple[list[Contact], dict[str, Any] | None]:
    settings = settings or get_settings()
    kwargs: dict[str, Any] = {
        "TableName": settings.app_table,
        "IndexName": keys.GSI1,
        "KeyConditionExpression": "gsi1pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "CONTACTS"}},
        "Limit": limit,
    }
    if after:
        kwargs["ExclusiveStartKey"] = after
    response = _db().query(**kwargs)
    return [Contact.model_validate_json(i["doc"]["S"]) for i in response["Items"]], response.get("LastEvaluatedKey")


def update_contact(
    contact_id: str,
    fields: ContactFields,
    expected_version: int | None = None,
    settings: Settings | None = None,
    now: int | None = None,
    provenance: Provenance = API_PROVENANCE,
) -> Contact:
    """Replace a contact's identities, wallets and consent; identities, links and the consent ledger follow
    in one transaction."""
    settings = settings or get_settings()
    current = get_contact(contact_id, settings)
    if expected_version is not None and expected_version != current.version:
        raise ContactConflict(
            f"contact is at version {current.version}, not {expected_version}; read it again", "expected_version"
        )
    refused = suppressed(fields, settings)
    if refused:
        raise Suppressed(f"{refused} was erased earlier and is suppressed", refused.split("[")[0])
    updated = Contact(
        **fields.model_dump(),
        contact_id=contact_id,
        created_at=current.created_at,
        updated_at=now or int(time.time()),
        version=current.version + 1,
    )
    document = _document_item(updated)
    actions: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": settings.app_table,
                "Item": document,
                "ConditionExpression": "v = :seen",
                "ExpressionAttributeValues": {":seen": {"N": str(current.version)}},
            }
        }
    ]
    old_ids, new_ids = current.identities(), updated.identities()
    for kind, value in new_ids.items():
        if old_ids.get(kind) != value:
            actions.append(_claim_identity(kind, value, contact_id, settings))
    for kind, value in old_ids.items():
        if new_ids.get(kind) != value:
            key = dynamo.to_item(keys.identity_key(kind, _hash(kind, value, settings)))
            actions.append({"Delete": {"TableName": settings.app_table, "Key": key}})
    for address in updated.wallets:
        actions.append({"Put": {"TableName": settings.app_table, "Item": _link_item(address, updated)}})
    for address in set(current.wallets) - set(updated.wallets):
        key = dynamo.to_item(keys.wallet_contact_key(address, contact_id))
        actions.append({"Delete": {"TableName": settings.app_table, "Key": key}})
    before, after = _consent_map(current.consent), _consent_map(updated.consent)
    actions += consent.entry_puts(contact_id, before, after, provenance, updated.updated_at, settings)
    _transact(actions, fields, settings)
    return updated


def erase_contact(contact_id: str, settings: Settings | None = None, now: int | None = None) -> Erasure:
    """Delete every trace of the person and suppress their identities and wallets for good.

    The suppressions hold only keyed hashes and the (public) wallet addresses, plus the time.
    """
    settings = settings or get_settings()
    contact = get_contact(contact_id, settings)
    at = {"suppressed_at": {"N": str(now or int(time.time()))}}
    actions: list[dict[str, Any]] = [
        {
            "Delete": {
                "TableName": settings.app_table,
                "Key": dynamo.to_item(keys.contact_key(contact_id)),
                "ConditionExpression": "v = :seen",
                "ExpressionAttributeValues": {":seen": {"N": str(contact.version)}},
            }
        }
    ]
    suppressions = 0
    for kind, value in contact.identities().items():
        digest = _hash(kind, value, settings)
        actions.append(
            {"Delete": {"TableName": settings.app_table, "Key": dynamo.to_item(keys.identity_key(kind, digest))}}
        )
        actions.append(
            {
                "Put": {
                    "TableName": settings.app_table,
                    "Item": {**dynamo.to_item(keys.suppression_key(kind, digest)), **at},
                }
            }
        )
        suppressions += 1
    for address in contact.wallets:
        link = dynamo.to_item(keys.wallet_contact_key(address, contact_id))
        actions.append({"Delete": {"TableName": settings.app_table, "Key": link}})
        actions.append(
            {
                "Put": {
                    "TableName": settings.app_table,
                    "Item": {**dynamo.to_item(keys.suppression_key("wallet", address)), **at},
                }
            }
        )
        suppressions += 1
    try:
        _db().transact_write_items(TransactItems=actions)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        raise ContactConflict("the contact changed while erasing it; retry the DELETE", "contact_id") from None
    consent.erase(contact_id, settings)
    return Erasure(contact_id=contact_id, wallets_unlinked=len(contact.wallets), suppressions_added=suppressions)


# ---- CSV import -------------------------------------------------------------------------------

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


def _rows(text: str, line_offset: int = 0) -> Iterator[tuple[int, dict[str, str]]]:
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
    default_source: str | None = None,
    settings: Settings | None = None,
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
    settings = settings or get_settings()
    report = ImportReport(rows=0, created=0, updated=0, unchanged=0, errors=[])
    # counted before any row is imported: a file over the limit changes nothing
    if row_limit is not None and sum(1 for _ in _rows(text, line_offset)) > row_limit:
        raise ContactError(
            too_many or f"the file has more than {row_limit} rows; split it, or import it with the contacts CLI", "csv"
        )
    for line, row in _rows(text, line_offset):
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
    update_contact(
        existing.contact_id, merged, expected_version=existing.version, settings=settings, provenance=provenance
    )
    return "updated"


def reach(address: str, settings: Settings | None = None) -> dict[str, list[str]]:
    """The channels this wallet's contacts consented to: {channel: [contact id, ...]} (one Query)."""
    settings = settings or get_settings()
    found: dict[str, list[str]] = {}
    for item in _links(address, settings):
        for channel in item.get("channels", {}).get("L", []):
            found.setdefault(channel["S"], []).append(item["contact_id"]["S"])
    return found
