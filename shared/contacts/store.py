"""The contact document, its identity index, wallet links and suppressions.

Personal data lives in exactly one item, the contact document. Everything that must outlive an
erasure, such as the identity index and the suppression list, is keyed by a keyed hash of the
identity, never by its text, so erasing a contact is deleting that one document and its links, and
nothing personal remains anywhere (docs/architecture.md, "Key shapes").
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from shared import consent
from shared.consent import Provenance
from shared.contacts.model import (
    CONSENT_CHANNELS,
    Consent,
    Contact,
    ContactConflict,
    ContactFields,
    ContactNotFound,
    Erasure,
    Suppressed,
)
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.codec import DocCodec
from shared.store.keys.inverses import suppressed_wallet_of
from shared.store.paging import query_items, query_page
from shared.store.secrets import parameter_secret
from shared.store.transact import cancellation_reasons

CONTACT_CODEC = DocCodec(Contact)


def _hash(kind: str, value: str, settings: Settings) -> str:
    legacy = keys.identity_hash_key()
    secret = parameter_secret(settings.identity_key_parameter, (settings.app_table, legacy["pk"], legacy["sk"]))
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def audit_ref(contact_id: str, settings: Settings) -> str:
    """How the audit log names a contact: a keyed hash of its id, the same for every action on it, that
    says nothing once the contact is erased (the id itself would link the log to whatever kept it)."""
    return "contact:" + _hash("contact", contact_id, settings)[:20]


def _db() -> Any:
    return dynamo.client("dynamodb")


def _document_item(contact: Contact) -> dict[str, Any]:
    key = keys.contact_key(contact.contact_id)
    return CONTACT_CODEC.encode(key, contact, **keys.contact_list_gsi(contact.contact_id), v=contact.version)


def _identity_item(kind: str, digest: str, contact_id: str) -> dict[str, Any]:
    return dynamo.to_item({**keys.identity_key(kind, digest), "contact_id": contact_id})


def _link_item(address: str, contact: Contact) -> dict[str, Any]:
    # the consented channels ride on the link, so a dispatch learns a wallet's reach from its own partition
    channels = [c for c in CONSENT_CHANNELS if contact.consent.allows(c)]
    return dynamo.to_item(
        {**keys.wallet_contact_key(address, contact.contact_id), "contact_id": contact.contact_id, "channels": channels}
    )


def suppressed(fields: ContactFields, settings: Settings) -> str | None:
    """The first identity or wallet of `fields` on the suppression list, as a field name."""
    probes: list[tuple[str, dict[str, str]]] = [
        (kind, keys.suppression_key(kind, _hash(kind, value, settings))) for kind, value in fields.identities().items()
    ]
    probes += [(f"wallets[{i}]", keys.suppression_key("wallet", a)) for i, a in enumerate(fields.wallets)]
    found = {
        dynamo.from_item(i)["pk"] for i in dynamo.batch_get(settings.app_table, [dynamo.to_item(k) for _, k in probes])
    }
    for name, key in probes:
        if key["pk"] in found:
            return name
    return None


def wallet_suppressed(addresses: Iterable[str], settings: Settings) -> set[str]:
    """Which of these wallets are on the suppression list (BatchGetItem, 100 keys a request)."""
    wanted = sorted({a.lower() for a in addresses})
    result: set[str] = set()
    for start in range(0, len(wanted), 100):
        chunk = [dynamo.to_item(keys.suppression_key("wallet", a)) for a in wanted[start : start + 100]]
        for item in dynamo.batch_get(settings.app_table, chunk):
            result.add(suppressed_wallet_of(dynamo.from_item(item)["pk"]))
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
    return str(dynamo.from_item(found)["contact_id"]) if found else None


def find_contact(fields: ContactFields, settings: Settings) -> Contact | None:
    """The existing contact that already owns one of these identities, if any."""
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
    settings: Settings,
    now: int | None = None,
    provenance: Provenance = API_PROVENANCE,
) -> Contact:
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
            "ExpressionAttributeValues": dynamo.to_item({":me": contact_id}),
        }
    }


def _transact(actions: list[dict[str, Any]], fields: ContactFields, settings: Settings) -> None:
    try:
        _db().transact_write_items(TransactItems=actions)
    except ClientError as exc:
        if cancellation_reasons(exc) is None:
            raise
        for kind, value in fields.identities().items():
            if _owner_of(kind, value, settings):
                raise ContactConflict(
                    f"this {kind} already belongs to another contact; update that contact instead", kind
                ) from None
        raise ContactConflict("the contact changed meanwhile; read it again and retry", "version") from None


def get_contact(contact_id: str, settings: Settings) -> Contact:
    found = (
        _db()
        .get_item(TableName=settings.app_table, Key=dynamo.to_item(keys.contact_key(contact_id)), ConsistentRead=True)
        .get("Item")
    )
    if not found:
        raise ContactNotFound(f"no contact {contact_id}; GET /contacts lists them", "contact_id")
    return CONTACT_CODEC.decode(found)


def _links(address: str, settings: Settings) -> list[dict[str, Any]]:
    """The wallet's contact links, each carrying the channels its contact consented to."""
    return list(
        query_items(
            settings.app_table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
            ExpressionAttributeValues=dynamo.to_item({":pk": keys.wallet_pk(address), ":c": keys.CONTACT_PREFIX}),
        )
    )


def contacts_of_wallet(address: str, settings: Settings) -> list[Contact]:
    return load_contacts([link["contact_id"] for link in _links(address, settings)], settings)


def load_contacts(contact_ids: Iterable[str], settings: Settings) -> list[Contact]:
    wanted = sorted(set(contact_ids))
    items = dynamo.batch_get(settings.app_table, [dynamo.to_item(keys.contact_key(c)) for c in wanted])
    return sorted((CONTACT_CODEC.decode(i) for i in items), key=lambda c: c.created_at)


def list_contacts(
    limit: int, after: dict[str, Any] | None, settings: Settings
) -> tuple[list[Contact], dict[str, Any] | None]:
    page = query_page(
        settings.app_table,
        limit=limit,
        start=after,
        IndexName=keys.GSI1,
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues=dynamo.to_item({":p": "CONTACTS"}),
    )
    return [CONTACT_CODEC.decode(i) for i in page.items], page.next_key


def update_contact(
    contact_id: str,
    fields: ContactFields,
    settings: Settings,
    expected_version: int | None = None,
    now: int | None = None,
    provenance: Provenance = API_PROVENANCE,
) -> Contact:
    """Replace a contact's identities, wallets and consent; identities, links and the consent ledger follow
    in one transaction."""
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
                "ExpressionAttributeValues": dynamo.to_item({":seen": current.version}),
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


def erase_contact(contact_id: str, settings: Settings, now: int | None = None) -> Erasure:
    """Delete every trace of the person and suppress their identities and wallets for good.

    The suppressions hold only keyed hashes and the (public) wallet addresses, plus the time.
    """
    contact = get_contact(contact_id, settings)
    at = {"suppressed_at": now or int(time.time())}
    actions: list[dict[str, Any]] = [
        {
            "Delete": {
                "TableName": settings.app_table,
                "Key": dynamo.to_item(keys.contact_key(contact_id)),
                "ConditionExpression": "v = :seen",
                "ExpressionAttributeValues": dynamo.to_item({":seen": contact.version}),
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
                    "Item": dynamo.to_item({**keys.suppression_key(kind, digest), **at}),
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
                    "Item": dynamo.to_item({**keys.suppression_key("wallet", address), **at}),
                }
            }
        )
        suppressions += 1
    try:
        _db().transact_write_items(TransactItems=actions)
    except ClientError as exc:
        if cancellation_reasons(exc) is None:
            raise
        raise ContactConflict("the contact changed while erasing it; retry the DELETE", "contact_id") from None
    consent.erase(contact_id, settings)
    return Erasure(contact_id=contact_id, wallets_unlinked=len(contact.wallets), suppressions_added=suppressions)


def reach(address: str, settings: Settings) -> dict[str, list[str]]:
    """The channels this wallet's contacts consented to: {channel: [contact id, ...]} (one Query)."""
    found: dict[str, list[str]] = {}
    for link in _links(address, settings):
        for channel in link.get("channels", []):
            found.setdefault(channel, []).append(link["contact_id"])
    return found
