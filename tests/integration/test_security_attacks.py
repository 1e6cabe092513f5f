"""One attack per finding of the security review, each refused, against moto with the API's own code.

The API is driven as API Gateway drives it (an event with the authorizer's context), so scopes,
revocation, throttles, masking and the audit log are exercised exactly as deployed. F1/F2 live in
tests/unit/test_egress.py, F3 in test_security_traces.py, F5 in tests/unit/test_rpc_url_secrecy.py,
F6 in tests/unit/test_iam_least_privilege.py, F13 in test_channels_docs.py, F15 in tests/unit/test_lock.py.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared import auth, contacts, overlap
from shared.api.app import build_app
from shared.auth import manage
from shared.channels.render import validate_template
from shared.segments import store as segments
from shared.segments.rules import parse_rule
from shared.settings import get_settings
from shared.store.secrets import forget_parameter_secrets
from tests.conftest import Deployed
from tests.support.dynamo import all_items

pytestmark = pytest.mark.integration
WALLET = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20


class Api:
    """Calls the API as API Gateway would, with an authorizer context for a real key."""

    def __init__(self) -> None:
        self.app = build_app()

    def key(self, *scopes: str) -> dict[str, str]:
        key_id, secret = manage.create_api_key("attacker" if "admin" not in scopes else "ops", list(scopes))
        return {"key_id": key_id, "scopes": ",".join(scopes), "name": "t", "key_hash": auth.hash_secret(secret)}

    def call(self, key: dict[str, str], method: str, path: str, body: Any = None, **query: str) -> Any:
        event = {
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": method,
            "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
            "pathParameters": {"proxy": path.lstrip("/")},
            "stageVariables": None,
            "requestContext": {
                "resourcePath": "/{proxy+}",
                "httpMethod": method,
                "path": f"/v1{path}",
                "stage": "v1",
                "requestId": f"attack-{time.monotonic_ns()}",
                "authorizer": {"principalId": key["key_id"], **key},
            },
            "body": None if body is None else json.dumps(body),
            "isBase64Encoded": False,
        }
        response = self.app.resolve(event, None)
        text = response["body"]
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text
        headers = {k: v[0] for k, v in (response.get("multiValueHeaders") or {}).items() if v}
        return response["statusCode"], payload, {**headers, **(response.get("headers") or {})}


@pytest.fixture
def api(deployed: Deployed) -> Api:
    forget_parameter_secrets()
    return Api()


def _decoded(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return b""


def _suppression(digest: str) -> str:
    return f"SUPPRESS#email#{digest}"


def test_f4_the_identity_hash_key_is_not_in_the_table_so_a_table_reader_cannot_test_guesses(
    api: Api, deployed: Deployed
) -> None:
    # Given a contact that was erased: only keyed hashes of its email remain
    created = contacts.create_contact(
        contacts.ContactFields(email="victim@example.org", wallets=[WALLET]), get_settings()
    )
    contacts.erase_contact(created.contact_id, get_settings())
    items = all_items(deployed.app_table)
    suppressions = [str(i["pk"]) for i in items if str(i["pk"]).startswith("SUPPRESS#email#")]
    assert suppressions
    # When someone who can read the whole table tries every stored value as the HMAC key with the guess
    candidates = [v for i in items for v in i.values() if isinstance(v, str)]
    keys_to_try = [c.encode() for c in candidates] + [_decoded(c) for c in candidates]
    probe = b"email:victim@example.org"  # what contacts hash: HMAC-SHA256 over "<kind>:<value>"
    recovered = [k for k in keys_to_try if _suppression(hmac.new(k, probe, hashlib.sha256).hexdigest()) in suppressions]
    # Then no key in the table reproduces the hash: the key lives in SSM, outside the table
    assert recovered == []
    assert not any(str(i["pk"]) == "CONFIG" and str(i["sk"]) == "IDENTITY_HASH_KEY" for i in items)


def test_f7_keys_erasures_and_sends_are_in_the_audit_log_for_admins_only(api: Api) -> None:
    admin, writer = api.key("admin"), api.key("write")
    status, created, _ = api.call(admin, "POST", "/keys", {"name": "made", "scopes": ["read"]})
    assert status == 201
    status, contact, _ = api.call(writer, "POST", "/contacts", {"email": "a@example.org", "wallets": [WALLET]})
    assert status == 201
    assert api.call(writer, "DELETE", f"/contacts/{contact['contact_id']}")[0] == 200
    assert api.call(admin, "DELETE", f"/keys/{created['key_id']}")[0] == 200
    # When an admin reads today's audit log
    status, log, _ = api.call(admin, "GET", "/audit")
    assert status == 200
    seen = {(e["action"], e["key_id"]) for e in log["items"]}
    # Then every action is there with the key that did it, and the erased contact is not named by its id
    assert ("key.created", admin["key_id"]) in seen and ("key.revoked", admin["key_id"]) in seen
    assert ("contact.created", writer["key_id"]) in seen and ("contact.erased", writer["key_id"]) in seen
    assert contact["contact_id"] not in json.dumps(log)
    # And a non-admin key may not read it
    assert api.call(writer, "GET", "/audit")[0] == 403


def test_f8_a_key_that_floods_the_api_is_throttled_and_expensive_routes_cost_more(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITH_API", json.dumps({"units_per_minute": 40}))
    get_settings.cache_clear()
    reader = api.key("read")
    segment = segments.create_segment("s", parse_rule({"match": {"type": "label", "label": "whale"}}), get_settings())
    statuses = [api.call(reader, "GET", f"/segments/{segment.segment_id}/members")[0] for _ in range(45)]
    # Then the key gets its 40 units, then 429s with a Retry-After and the error shape
    assert statuses.count(200) == 40 and set(statuses[40:]) == {429}
    status, body, headers = api.call(reader, "GET", "/segments")
    assert status == 429 and body["error"] == "rate_limited" and int(headers["Retry-After"]) >= 1
    # And another key is not affected
    assert api.call(api.key("read"), "GET", "/segments")[0] == 200


def test_f8_a_large_import_runs_in_the_background_instead_of_holding_the_request(
    api: Api, deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMPORT_QUEUE_URL", deployed.physical["ImportQueue"])
    get_settings.cache_clear()
    writer = api.key("write")
    rows = "".join(f"0x{i:040x},p{i}@example.org,yes\n" for i in range(1, 252))
    text = "wallet,email,consent_email\n" + rows
    # When it is posted to the synchronous route, it is refused with the way to do it
    status, body, _ = api.call(writer, "POST", "/contacts/import", {"csv": text})
    assert status == 422 and "/contacts/imports" in body["message"]
    # And the background route answers at once with a job, whose chunks then import it
    status, job, _ = api.call(writer, "POST", "/contacts/imports", {"csv": text})
    assert status == 202 and job["rows"] == 251 and job["chunks"] == 6 and job["chunks_done"] == 0
    from shared import imports

    for chunk in range(job["chunks"]):
        assert imports.run_chunk(imports.ChunkJob(job_id=job["job_id"], chunk=chunk), get_settings())
    assert not imports.run_chunk(
        imports.ChunkJob(job_id=job["job_id"], chunk=0), get_settings()
    )  # a redelivery counts nothing
    status, done, _ = api.call(writer, "GET", f"/contacts/imports/{job['job_id']}")

    assert (done["state"], done["created"], done["progress"]) == ("done", 251, 1.0)


def test_f8_an_overlap_of_communities_too_large_for_one_request_is_refused_after_a_bounded_read(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two segments, one with more wallets than an overlap request may read (the bound made small)
    monkeypatch.setattr(overlap, "MAX_SIDE_WALLETS", 3)
    settings = get_settings()
    small = segments.create_segment("small", parse_rule({"match": {"type": "label", "label": "whale"}}), settings)
    large = segments.create_segment("large", parse_rule({"match": {"type": "label", "label": "whale"}}), settings)
    for n in range(1, 5):
        wallet = f"0x{n:040x}"
        segments.apply_membership(wallet, [large] + ([small] if n <= 3 else []), [], 1, settings)
    reader = api.key("read")
    # When a key asks for their overlap, then it is refused, naming the side and what to do instead
    status, body, _ = api.call(reader, "GET", "/overlap", segment_a=small.segment_id, segment_b=large.segment_id)
    assert status == 422 and body["field"] == "segment_b" and "members.csv" in body["message"]
    # And the reads stopped at the bound: one wallet past it, never the whole side
    read: list[str] = []
    members_of = overlap.segment_members

    def a_huge_side(_segment_id: str, _settings: object) -> Iterator[str]:
        for n in range(1_000_000):
            read.append(f"0x{n:040x}")
            yield read[-1]

    monkeypatch.setattr(overlap, "segment_members", a_huge_side)
    status, _, _ = api.call(reader, "GET", "/overlap", segment_a=small.segment_id, segment_b=large.segment_id)
    assert status == 422 and len(read) == overlap.MAX_SIDE_WALLETS + 1
    # And communities within the bound are compared as before
    monkeypatch.setattr(overlap, "segment_members", members_of)
    monkeypatch.setattr(overlap, "MAX_SIDE_WALLETS", 4)
    status, result, _ = api.call(reader, "GET", "/overlap", segment_a=small.segment_id, segment_b=large.segment_id)
    assert status == 200 and (result["a_size"], result["b_size"], result["both"]) == (3, 4, 3)


def test_f9_one_csv_row_cannot_switch_an_opted_out_email_back_on(api: Api) -> None:
    writer = api.key("write")
    status, contact, _ = api.call(
        writer, "POST", "/contacts", {"email": "o@example.org", "wallets": [WALLET], "consent": {"email": True}}
    )
    # Given the person opted out
    update = {"email": "o@example.org", "wallets": [WALLET], "consent": {"email": False}}
    assert api.call(writer, "PUT", f"/contacts/{contact['contact_id']}", update)[0] == 200
    # When an import row says yes again without proof
    status, report, _ = api.call(
        writer, "POST", "/contacts/import", {"csv": f"wallet,email,consent_email\n{WALLET},o@example.org,yes\n"}
    )
    # Then the row is refused naming the channel, and the contact stays opted out
    assert status == 200 and report["updated"] == 0 and report["errors"][0]["field"] == "consent_email"
    assert not contacts.get_contact(contact["contact_id"], get_settings()).consent.email
    # And only a row with proof of the new consent grants it, recorded in the ledger with its source and key
    proof = f"wallet,email,consent_email,consent_proof\n{WALLET},o@example.org,yes,signup form 2026-12-01\n"
    assert api.call(writer, "POST", "/contacts/import", {"csv": proof})[1]["updated"] == 1
    status, ledger, _ = api.call(writer, "GET", f"/contacts/{contact['contact_id']}/consent")
    assert [(e["granted"], e["source"][:6]) for e in ledger["items"]] == [
        (True, "api"),
        (False, "api"),
        (True, "import"),
    ]
    assert ledger["items"][-1]["key_id"] == writer["key_id"] and ledger["items"][-1]["proof"]


def test_f10_only_an_admin_may_mark_a_campaign_transactional(api: Api) -> None:
    segment = segments.create_segment("t", parse_rule({"match": {"type": "label", "label": "whale"}}), get_settings())
    body = {
        "name": "not an alert",
        "segment_id": segment.segment_id,
        "channel": "webhook",
        "webhook_url": "https://hooks.example.org/k",
        "template": {"body": "buy"},
        "transactional": True,
    }
    status, refused, _ = api.call(api.key("write"), "POST", "/campaigns", body)
    assert status == 403 and refused["field"] == "transactional"
    assert api.call(api.key("admin"), "POST", "/campaigns", body)[0] == 201


def test_f11_no_self_revocation_no_last_admin_and_revocation_holds_at_once(api: Api) -> None:
    first = api.key("admin")
    # A key cannot revoke itself, and the last admin cannot be revoked
    status, body, _ = api.call(first, "DELETE", f"/keys/{first['key_id']}")
    assert status == 409 and body["field"] == "key_id"
    second = api.key("admin")
    reader = api.key("read")
    assert api.call(second, "DELETE", f"/keys/{first['key_id']}")[0] == 200
    status, body, _ = api.call(api.key("admin"), "DELETE", f"/keys/{second['key_id']}")
    assert status == 200
    # And a revoked key is refused on its very next request, whatever the authorizer cached
    assert api.call(reader, "GET", "/segments")[0] == 200
    assert api.call(api.key("admin"), "DELETE", f"/keys/{reader['key_id']}")[0] == 200
    status, body, _ = api.call(reader, "GET", "/segments")
    assert status == 401 and "revoked" in body["message"]


def test_f12_without_the_pii_scope_contacts_and_webhook_urls_are_masked(api: Api) -> None:
    writer, reader, pii = api.key("write", "pii"), api.key("read"), api.key("read", "pii")
    status, contact, _ = api.call(
        writer,
        "POST",
        "/contacts",
        {"name": "Pat", "email": "pat@example.org", "discord": "pat_d", "wallets": [WALLET]},
    )
    status, masked, _ = api.call(reader, "GET", f"/contacts/{contact['contact_id']}")
    assert (masked["email"], masked["discord"], masked["name"]) == ("p***@***", "p***", "P***")
    assert api.call(pii, "GET", f"/contacts/{contact['contact_id']}")[1]["email"] == "pat@example.org"
    assert "pat@example.org" not in json.dumps(api.call(reader, "GET", "/contacts")[1])
    assert api.call(reader, "GET", "/contacts/export.csv")[0] == 403
    segment = segments.create_segment("m", parse_rule({"match": {"type": "label", "label": "whale"}}), get_settings())
    hook = "https://hooks.example.org/T0KEN/secret-path?sig=abc"
    body = {"name": "c", "segment_id": segment.segment_id, "channel": "webhook", "webhook_url": hook}
    status, campaign, _ = api.call(writer, "POST", "/campaigns", {**body, "template": {"body": "gm"}})
    assert status == 201
    shown = api.call(reader, "GET", f"/campaigns/{campaign['campaign_id']}")[1]
    assert shown["webhook_url"] == "https://hooks.example.org/…"
    assert api.call(reader, "GET", f"/campaigns/{campaign['campaign_id']}/webhook-secret")[0] == 403


def test_f2_a_campaign_aimed_at_internal_addresses_is_refused_on_create(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITH_EGRESS", "")  # as in AWS: https to public addresses only
    segment = segments.create_segment("i", parse_rule({"match": {"type": "label", "label": "whale"}}), get_settings())
    writer = api.key("write")
    for url in ("https://169.254.169.254/latest", "https://127.0.0.1:9001/2018-06-01/runtime", "https://10.0.0.7/"):
        body = {"name": "x", "segment_id": segment.segment_id, "channel": "webhook", "webhook_url": url}
        status, refused, _ = api.call(writer, "POST", "/campaigns", {**body, "template": {"body": "gm"}})
        assert status == 422 and refused["field"] == "webhook_url", url


def test_f14_an_unclosed_placeholder_costs_linear_time() -> None:
    started = time.perf_counter()
    for attack in ("{{" * 9000, "{{ a" * 4500, "x{{ " + "y" * 17990):
        with pytest.raises(ValueError):
            validate_template(attack)
    assert time.perf_counter() - started < 0.5


def test_f16_a_formula_imported_in_a_cell_is_exported_as_text(api: Api) -> None:
    admin = api.key("admin")
    text = f'wallet,email,name,source\n{OTHER},f@example.org,"=HYPERLINK(""http://evil.example"",""x"")",@cmd\n'
    assert api.call(admin, "POST", "/contacts/import", {"csv": text})[1]["created"] == 1
    status, exported, _ = api.call(admin, "GET", "/contacts/export.csv")
    assert status == 200, exported
    row = next(r for r in csv.DictReader(io.StringIO(exported)) if r["email"] == "f@example.org")
    assert row["name"].startswith("'=HYPERLINK(") and row["source"] == "'@cmd"
