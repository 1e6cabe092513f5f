"""Segment rules over health-factor bands, loyalty tiers and points (the rule language's lending part)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared.loyalty import LoyaltyInputs, points_at
from shared.profiles.model import WalletProfile
from shared.segments.evaluate import changed_fields, matches, referenced_fields, time_sensitivity
from shared.segments.facts import WalletFacts
from shared.segments.rules import parse_rule, problems
from shared.settings import LoyaltySettings

DAY = 86_400
NOW = 1_750_000_000
WALLET = "0x" + "ab" * 20


def _facts(health: list[tuple[int, str]] = (), loyalty: LoyaltyInputs | None = None, **kwargs: Any) -> WalletFacts:  # type: ignore[assignment]
    profile = WalletProfile(address=WALLET, first_seen=NOW - 10 * DAY, last_active=NOW, chains={"1": 1})
    return WalletFacts.of(profile, [], kwargs.pop("now", NOW), health=health, loyalty=loyalty, **kwargs)


def _rule(match: dict[str, Any]) -> Any:
    return parse_rule({"match": match})


def test_health_conditions_match_bands_and_worse_on_borrowing_positions_only() -> None:
    # Given a wallet with one position in warn on chain 1 and one safe on chain 10, and one that owes nothing
    borrower = _facts(health=[(1, "warn"), (10, "safe")], min_health_factor=1.3)
    lender = _facts()

    # Then band conditions read the positions' bands, `or_worse` widens, chain narrows
    assert matches(_rule({"type": "health", "band": "warn"}), borrower)
    assert matches(_rule({"type": "health", "band": "safe", "chain_id": 10}), borrower)
    assert not matches(_rule({"type": "health", "band": "warn", "chain_id": 10}), borrower)
    assert matches(_rule({"type": "health", "band": "warn", "or_worse": True}), borrower)
    assert not matches(_rule({"type": "health", "band": "urgent", "or_worse": True}), borrower)
    # and a wallet that owes nothing is in no band
    assert not matches(_rule({"type": "health", "band": "safe"}), lender)
    # and the lowest health factor is a field
    assert matches(_rule({"type": "field", "field": "health_factor", "op": "lt", "value": 1.5}), borrower)
    assert not matches(_rule({"type": "field", "field": "health_factor", "op": "lt", "value": 1.5}), lender)


def test_tier_and_points_conditions_follow_the_formula_and_its_tier_order() -> None:
    # Given a voter worth 200 points (silver: 100..300 with the default tiers)
    facts = _facts(loyalty=LoyaltyInputs(votes=20))
    assert facts.loyalty_points == pytest.approx(200) and facts.tier == "silver"

    # Then tier conditions match exactly or with `or_higher`, and points are a field
    assert matches(_rule({"type": "tier", "tier": "silver"}), facts)
    assert matches(_rule({"type": "tier", "tier": "bronze", "or_higher": True}), facts)
    assert not matches(_rule({"type": "tier", "tier": "gold", "or_higher": True}), facts)
    assert not matches(_rule({"type": "tier", "tier": "diamond"}), facts)  # not a tier: matches nobody
    assert matches(_rule({"type": "field", "field": "loyalty_points", "op": "between", "lo": 150, "hi": 250}), facts)


def test_time_sensitivity_says_when_holding_time_lifts_points_and_tier() -> None:
    # Given a holder of 20 days (10 points at 0.5 a day) and voter (+200): 210 points, silver
    facts = _facts(loyalty=LoyaltyInputs(holding_since=(NOW - 20 * DAY,), votes=20))
    gold = _rule({"type": "tier", "tier": "gold", "or_higher": True})
    rich = _rule({"type": "field", "field": "loyalty_points", "op": "gte", "value": 250})

    # When the next change by time alone is asked for
    gold_due, rich_due = time_sensitivity(gold, facts), time_sensitivity(rich, facts)

    # Then it is the exact second the points reach the threshold (300 for gold, 250), and matches agrees
    assert gold_due == NOW + 180 * DAY and rich_due == NOW + 80 * DAY
    assert not matches(rich, facts.at(rich_due - 1)) and matches(rich, facts.at(rich_due))
    assert not matches(gold, facts.at(gold_due - 1)) and matches(gold, facts.at(gold_due))
    assert points_at(facts.loyalty, rich_due, LoyaltySettings()) == pytest.approx(250)  # type: ignore[arg-type]
    # and a health condition only changes with an event
    assert time_sensitivity(_rule({"type": "health", "band": "warn"}), facts) is None


def test_lending_facts_are_named_for_change_detection() -> None:
    before = _facts(health=[(1, "safe")], loyalty=LoyaltyInputs(votes=1))
    after = _facts(health=[(1, "urgent")], loyalty=LoyaltyInputs(votes=40))
    assert {"health", "tier", "loyalty_points"} <= changed_fields(before, after)
    assert referenced_fields(_rule({"type": "health", "band": "warn"})) == {"health"}
    assert referenced_fields(_rule({"type": "tier", "tier": "gold"})) == {"tier"}


@pytest.mark.parametrize(
    ("match", "field", "message"),
    [
        ({"type": "health", "band": "doomed"}, "match.band", "Input should be 'safe', 'warn', 'urgent' or 'critical'"),
        ({"type": "tier", "tier": "Gold!"}, "match.tier", "String should match pattern"),
        ({"type": "health", "band": "warn", "chain_id": 0}, "match.chain_id", "greater than or equal to 1"),
        ({"type": "field", "field": "loyalty", "op": "gt", "value": 1}, "match.field", "'loyalty_points'"),
    ],
)
def test_invalid_lending_conditions_name_the_field(match: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _rule(match)
    (problem,) = problems(caught.value)
    assert problem["field"] == field and message in problem["message"]
