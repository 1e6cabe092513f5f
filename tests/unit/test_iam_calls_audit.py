"""The e2e IAM audit folds condition values the roles cannot tell apart; folding must never change a verdict."""

from __future__ import annotations

import itertools
import random

import pytest

from infra.localcloud.template import Template, load_template
from tests.support.iam import Request, Resolver, evaluate_many, role_policies, table_arn
from tests.support.iam_calls import Recorded, Snapshot, _condition_tests, _fold, _like, audit

PARTITIONS = [
    "APIKEY#" + "0" * 64,
    "APIKEYS",
    "CONTACT#00",
    "CONTACTS",
    "CONFIG",
    "CONFIGURATION",
    "CHAIN#31337",
    "CHAINS",
    "TOKEN#1#0xabc",
    "BACKFILL#job",
    "WALLET#0x01",
    "WALLET#0x02",
    "IDENTITY#email#00",
    "AUDIT#2026-01-01",
    "SEND#c#0xabc#once",
    "RATE#key",
]


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


def test_stringlike_matches_as_iam_does() -> None:
    assert _like("CHAIN#*", "CHAIN#1") and _like("CHAIN#*", "CHAIN#") and not _like("CHAIN#*", "CHAINS")
    assert _like("A?C", "ABC") and not _like("A?C", "AC") and not _like("a*", "A1")
    assert _like("[x]*", "[x]y") and not _like("[x]*", "xy")


def test_folded_requests_get_the_verdicts_of_the_requests_they_stand_for(template: Template) -> None:
    resolver = Resolver(template)
    functions = ["ApiFunction", "IngestFunction", "SenderFunction", "HealthFunction", "AuthorizerFunction"]
    sets = {f: role_policies(template, f, resolver) for f in functions}
    tests = _condition_tests([doc for named in sets.values() for _, doc in named])
    rng = random.Random(7)
    originals: list[tuple[str, Request]] = []
    for function, action in itertools.product(functions, ["GetItem", "PutItem", "BatchWriteItem", "Query"]):
        for _ in range(6):
            keys = rng.sample(PARTITIONS, rng.randint(1, 3))
            resource = table_arn("AppTable", "gsi1" if action == "Query" and rng.random() < 0.5 else None)
            originals.append((function, Request(f"dynamodb:{action}", resource, {"dynamodb:LeadingKeys": keys})))
    representatives: dict[tuple[str, tuple[bool, ...]], str] = {}
    folded = [(f, _fold(r, tests, representatives)) for f, r in originals]
    assert len({str(r.context) for _, r in folded}) < len({str(r.context) for _, r in originals})
    before = evaluate_many(sets, originals)
    after = evaluate_many(sets, folded)
    assert [v.result for v in before] == [v.result for v in after]
    assert [v.grants for v in before] == [v.grants for v in after]


def test_the_audit_counts_statements_and_names_what_is_denied(template: Template) -> None:
    app = table_arn("AppTable")
    recorded = [
        Recorded(
            "AuthorizerFunction",
            "function",
            Request("dynamodb:GetItem", app, {"dynamodb:LeadingKeys": ["APIKEY#1"]}),
            3,
        ),
        Recorded(
            "AuthorizerFunction", "function", Request("dynamodb:GetItem", app, {"dynamodb:LeadingKeys": ["CONFIG"]}), 1
        ),
    ]
    snapshot = Snapshot(
        "template.yaml", {}, {}, recorded, [("AuthorizerFunction", "function", "dynamodb:GetItem", 4)], [], {}
    )
    found = audit(snapshot, template)
    assert [(d.function, d.request.context["dynamodb:LeadingKeys"], d.calls) for d in found.denied] == [
        ("AuthorizerFunction", ["CONFIG"], 1)
    ]
    authorizer = [s for s in found.statements if s.function == "AuthorizerFunction"]
    assert [(s.label, s.granted) for s in authorizer] == [("dynamodb:GetItem on AppTable", 3)]
    assert found.calls["AuthorizerFunction"] == 4
