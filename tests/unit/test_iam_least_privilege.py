"""F6: one trust domain no more. Each attack a function's role must refuse, by a real IAM evaluator.

Ingest, Backfill and Health parse untrusted chain data; no function but the API may mint an API key,
read contacts or touch CONFIG, and the sender may send only as the campaigns' address.
"""

from __future__ import annotations

import pytest

from infra.localcloud.template import load_template
from tests.support.iam import Request, Resolver, evaluate, function_policies, table_arn

APP = table_arn("AppTable")
INDEX = table_arn("AppTable", "gsi1")
SES = "arn:aws:ses:us-east-1:123456789012:identity/kith.example.com"


def _item(action: str, pk: str, resource: str = APP) -> Request:
    return Request(f"dynamodb:{action}", resource, {"dynamodb:LeadingKeys": [pk]})


ATTACKS = {
    "IngestFunction": [
        _item("PutItem", "APIKEY#" + "0" * 64),
        _item("GetItem", "CONTACT#00"),
        _item("PutItem", "CONFIG"),
        _item("UpdateItem", "WALLET#0xabc"),
    ],
    "BackfillFunction": [_item("PutItem", "APIKEY#" + "0" * 64), _item("GetItem", "CONFIG")],
    "HealthFunction": [
        _item("PutItem", "APIKEY#" + "0" * 64),
        _item("GetItem", "CONTACT#00"),
        _item("Query", "CONTACTS", INDEX),
        _item("Query", "APIKEYS", INDEX),
        _item("UpdateItem", "CONFIG"),
        _item("GetItem", "IDENTITY#email#00"),
    ],
    "ProfilesFunction": [_item("PutItem", "APIKEY#" + "0" * 64), _item("GetItem", "CONFIG")],
    "SegmentsFunction": [_item("Query", "CONTACTS", INDEX), _item("PutItem", "AUDIT#2026-01-01")],
    "DispatchFunction": [_item("GetItem", "CONTACT#00"), _item("PutItem", "CONSENTLOG#00")],
    "SenderFunction": [
        _item("PutItem", "CONTACT#00"),
        _item("Query", "CONTACTS", INDEX),
        _item("GetItem", "APIKEY#" + "0" * 64),
        Request("ses:SendEmail", SES, {"ses:FromAddress": "ceo@kith.example.com"}),
    ],
    "AuthorizerFunction": [_item("PutItem", "APIKEY#" + "0" * 64), _item("GetItem", "CONTACT#00")],
    "AirdropClaimsFunction": [
        _item("BatchWriteItem", "APIKEY#" + "0" * 64),
        _item("BatchWriteItem", "WALLET#0xabc"),
        _item("BatchWriteItem", "AIRDROP#00"),
        _item("GetItem", "CLAIM#1#0xabc"),
    ],
}
ALLOWED = {
    "IngestFunction": [_item("UpdateItem", "CHAIN#31337"), _item("PutItem", "TOKEN#1#0xabc")],
    "HealthFunction": [_item("UpdateItem", "WALLET#0xabc")],
    "SenderFunction": [
        _item("GetItem", "CONTACT#00"),
        _item("PutItem", "SEND#c#0xabc#once"),
        Request("ses:SendEmail", SES, {"ses:FromAddress": "campaigns@kith.example.com"}),
    ],
    "AuthorizerFunction": [_item("GetItem", "APIKEY#" + "0" * 64)],
    "AirdropClaimsFunction": [_item("BatchWriteItem", "CLAIM#31337#0xabc")],
    "ApiFunction": [
        _item("PutItem", "APIKEY#" + "0" * 64),
        _item("GetItem", "CONFIG"),
        _item("Query", "CONTACTS", INDEX),
    ],
}


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return Resolver(load_template())


@pytest.mark.parametrize("function", sorted(ATTACKS))
def test_each_attack_is_refused_by_the_functions_role(function: str, resolver: Resolver) -> None:
    policies = function_policies(resolver.template, function, resolver)
    results = evaluate(policies, ATTACKS[function])
    for request, result in zip(ATTACKS[function], results, strict=True):
        assert result in ("ImplicitlyDenied", "ExplicitlyDenied"), f"{function}: {request} was {result}"


@pytest.mark.parametrize("function", sorted(ALLOWED))
def test_what_each_function_needs_is_still_allowed(function: str, resolver: Resolver) -> None:
    policies = function_policies(resolver.template, function, resolver)
    results = evaluate(policies, ALLOWED[function])
    for request, result in zip(ALLOWED[function], results, strict=True):
        assert result == "Allowed", f"{function}: {request} was {result}"
