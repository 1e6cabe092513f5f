"""Contacts against moto over real connections: identities, consent, CSV import, erasure and suppression."""

from __future__ import annotations

import json

import pytest

from shared import contacts
from shared.settings import get_settings
from tests.conftest import Deployed
from tests.support.dynamo import all_items

ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20
CAROL = "0x" + "c3" * 20


def _everything(deployed: Deployed) -> str:
    tables = sorted(logical for logical in deployed.physical if logical.endswith("Table"))  # every table
    return json.dumps([all_items(deployed.physical[t]) for t in tables], default=str)


def test_a_contact_links_identities_to_wallets_with_consent(deployed: Deployed) -> None:
    # Given a contact with an email and a Telegram chat, consenting to email only
    created = contacts.create_contact(
        contacts.ContactFields(
            name="Alice",
            email="Alice@Example.org",
            telegram="12345",
            wallets=[ALICE.upper().replace("0X", "0x")],
            consent=contacts.Consent(email=True),
        ),
        get_settings(),
    )
    # Then it reads back normalised, and the wallet knows its contact
    assert contacts.get_contact(created.contact_id, get_settings()).email == "alice@example.org"
    assert [c.contact_id for c in contacts.contacts_of_wallet(ALICE, get_settings())] == [created.contact_id]
    assert created.consent.allows("email") and not created.consent.allows("telegram")
    # And the same email cannot belong to a second contact
    with pytest.raises(contacts.ContactConflict) as conflict:
        contacts.create_contact(contacts.ContactFields(email="alice@example.org", wallets=[BOB]), get_settings())
    assert conflict.value.field == "email"


def test_consent_for_a_channel_needs_its_identity() -> None:
    with pytest.raises(ValueError, match=r"consent\.discord"):
        contacts.ContactFields(wallets=[ALICE], consent=contacts.Consent(discord=True))


def test_csv_import_reports_each_bad_row_and_keeps_the_good_ones(deployed: Deployed) -> None:
    # Given a form export with good rows, a bad address, a bad email and a bad consent flag
    text = (
        "wallet,email,discord,consent_email,consent\n"
        f"{ALICE},alice@example.org,alice_d,yes,discord\n"
        "0x1234,bob@example.org,,no,\n"
        f"{BOB},not-an-email,,yes,\n"
        f"{CAROL},carol@example.org,,maybe,\n"
        f"{CAROL};{BOB},carol2@example.org,,1,xmtp\n"
    )
    # When it is imported
    report = contacts.import_csv(text, get_settings(), default_source="form")
    # Then the good rows are contacts and every bad row is named by its line and field
    assert (report.rows, report.created, report.updated) == (5, 2, 0)
    assert [(e.row, e.field) for e in report.errors] == [(3, "wallets"), (4, "email"), (5, None)]
    assert "maybe" in report.errors[2].message
    # And importing again changes nothing, while a row naming a known identity merges into its contact
    again = contacts.import_csv(text, get_settings())
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    merged = contacts.import_csv(f"wallet,email,consent_email\n{CAROL},alice@example.org,no\n", get_settings())
    assert merged.updated == 1
    alice = contacts.contacts_of_wallet(CAROL, get_settings())
    assert {c.email for c in alice} == {"alice@example.org", "carol2@example.org"}
    assert not next(c for c in alice if c.email == "alice@example.org").consent.email


def test_erasure_leaves_no_personal_data_and_suppresses_reimport(deployed: Deployed) -> None:
    # Given an imported contact
    contacts.import_csv(
        f"wallet,email,discord,x,name,consent\n{ALICE},alice@example.org,alice_d,@AliceX,Alice Q,email\n",
        get_settings(),
    )
    contact = contacts.contacts_of_wallet(ALICE, get_settings())[0]
    assert "alice@example.org" in _everything(deployed)
    # When it is erased
    erased = contacts.erase_contact(contact.contact_id, get_settings())
    # Then no table holds any of its personal data, and the wallet has no contact
    dump = _everything(deployed).lower()
    for secret in ("alice@example.org", "alice_d", "alicex", "alice q", contact.contact_id):
        assert secret not in dump
    assert erased.suppressions_added == 4  # email, discord, x, wallet
    assert contacts.contacts_of_wallet(ALICE, get_settings()) == []
    # And re-importing it is refused while suppressed, for the identity and for the wallet alike
    report = contacts.import_csv(f"wallet,email\n{BOB},alice@example.org\n{ALICE},new@example.org\n", get_settings())
    assert report.created == 0
    assert [(e.row, e.field) for e in report.errors] == [(2, "email"), (3, "wallets")]
    assert "suppressed" in report.errors[0].message
    assert contacts.wallet_suppressed([ALICE, BOB], get_settings()) == {ALICE}
