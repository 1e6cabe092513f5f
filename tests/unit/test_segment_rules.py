"""The segment rule language: parsing, precise errors, evaluation, and when time alone flips a rule."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.events import Standard
from shared.profiles.model import DAY, Holding, WalletProfile
from shared.scoring import ComponentState, ScoreState
from shared.segments.evaluate import changed_fields, matches, referenced_fields, time_sensitivity
from shared.segments.facts import FACT_NAMES, WalletFacts
from shared.segments.rules import (
    AllOf,
    AnyOf,
    ChainCondition,
    ChurnCondition,
    DaysSinceCondition,
    FieldCondition,
    HoldingCondition,
    LabelCondition,
    NotOf,
    RuleNode,
    SegmentRule,
    TagCondition,
    parse_rule,
    problems,
)

KITH = "0x" + "4b" * 20
NFT = "0x" + "99" * 20
WALLET = "0x" + "0a" * 20
NOW = 1_000 * DAY

WHALES_ON_31338 = {
    "schema_version": 1,
    "match": {"type": "all", "of": [{"type": "label", "label": "whale"}, {"type": "chain", "chain_id": 31338}]},
}
DORMANT_KITH_HOLDERS = {
    "schema_version": 1,
    "match": {
        "type": "all",
        "of": [
            {"type": "days_since", "field": "last_active", "op": "gte", "days": 30},
            {"type": "holding", "contract": KITH, "min_adjusted": 100.0},
        ],
    },
}
VOTERS_NOT_EXITED = {
    "schema_version": 1,
    "match": {
        "type": "all",
        "of": [{"type": "label", "label": "voter"}, {"type": "not", "rule": {"type": "churn", "state": "exited"}}],
    },
}


def _kith(balance_tokens: float, since: int | None = NOW - 200 * DAY, **extra: Any) -> Holding:
    return Holding(
        chain_id=31337,
        contract=KITH,
        standard=Standard.ERC20,
        symbol="KITH",
        decimals=18,
        balance=int(balance_tokens * 10**18),
        in_count=1,
        holding_since=since if balance_tokens > 0 else None,
        **extra,
    )


def _profile(**fields: Any) -> WalletProfile:
    defaults: dict[str, Any] = {
        "address": WALLET,
        "first_seen": NOW - 300 * DAY,
        "last_active": NOW - 2 * DAY,
        "chains": {"31337": 4},
        "active_days": {"1": 1, "2": 3},
        "transfers_in": 3,
        "transfers_out": 1,
    }
    return WalletProfile(**{**defaults, **fields})


def _facts(profile: WalletProfile | None = None, holdings: list[Holding] | None = None, **kwargs: Any) -> WalletFacts:
    return WalletFacts.of(
        profile or _profile(), [_kith(500)] if holdings is None else holdings, kwargs.pop("now", NOW), **kwargs
    )


# --- documents ----------------------------------------------------------------------------------


@pytest.mark.parametrize("document", [WHALES_ON_31338, DORMANT_KITH_HOLDERS, VOTERS_NOT_EXITED])
def test_rules_round_trip_through_json(document):
    # Given a rule document as a client would send it
    rule = parse_rule(json.dumps(document))
    # When it is written out and read back
    written = rule.model_dump_json(exclude_none=True)
    # Then nothing is lost, and the written form is the document itself
    assert parse_rule(written) == rule
    assert json.loads(written) == document


def test_uint256_amounts_travel_as_exact_decimal_strings():
    big = str(2**256 - 1)
    rule = parse_rule(
        {"match": {"type": "holding", "token_id": "5", "min_balance": "1000000000000000001", "max_balance": big}}
    )
    assert isinstance(rule.match, HoldingCondition) and rule.match.min_balance == 10**18 + 1
    dumped = json.loads(rule.model_dump_json())
    assert dumped["match"]["min_balance"] == "1000000000000000001" and dumped["match"]["max_balance"] == big
    assert parse_rule(rule.model_dump_json()) == rule


def test_schema_version_defaults_to_one_and_is_always_written():
    rule = parse_rule({"match": {"type": "tag", "tag": "vip"}})
    assert json.loads(rule.model_dump_json())["schema_version"] == 1


def test_json_schema_uses_a_type_discriminator_and_describes_fields():
    schema = SegmentRule.model_json_schema()
    match = schema["properties"]["match"]
    assert match["discriminator"]["propertyName"] == "type"
    assert set(match["discriminator"]["mapping"]) == {
        "all",
        "any",
        "not",
        "field",
        "days_since",
        "holding",
        "stake",
        "label",
        "churn",
        "tag",
        "chain",
        "health",
        "tier",
    }
    holding = schema["$defs"]["HoldingCondition"]["properties"]
    assert all("description" in spec for spec in holding.values())
    assert holding["min_balance"]["anyOf"][0]["type"] == "string"


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "label", "label": "voter"}
    for _ in range(depth):
        node = {"type": "not", "rule": node}
    return node


FIELD_GTE = {"type": "field", "field": "score", "op": "gte"}


@pytest.mark.parametrize(
    ("match", "field", "message"),
    [
        (
            {"type": "field", "field": "score", "op": "between", "lo": 5, "hi": 1},
            "match.hi",
            "hi (1.0) must be greater than or equal to lo (5.0)",
        ),
        ({"type": "all", "of": [FIELD_GTE]}, "match.of[0].value", "value is required when op is 'gte'"),
        (
            {"type": "field", "field": "votes", "op": "gt", "value": 1, "lo": 0},
            "match.lo",
            "lo is not used when op is 'gt'; lo and hi are only for 'between'; give value",
        ),
        (
            {
                "type": "any",
                "of": [{"type": "tag", "tag": "a"}, {"type": "not", "rule": {"type": "holding", "contract": "0x12"}}],
            },
            "match.of[1].rule.contract",
            "must be a 0x-prefixed 20-byte hex address (42 characters)",
        ),
        (
            {"type": "holding", "contract": "0xAbcdefabcdefabcdefabcdefabcdefabcdefabcd"},
            "match.contract",
            "mixed-case address fails its EIP-55 checksum",
        ),
        (
            {"type": "days_since", "field": "last_active", "op": "gte", "days": -1},
            "match.days",
            "Input should be greater than or equal to 0",
        ),
        (
            {"type": "days_since", "field": "last_vote", "op": "between", "lo": 30, "hi": 7},
            "match.hi",
            "hi (7) must be greater than or equal to lo (30)",
        ),
        (
            {"type": "days_since", "field": "first_seen", "op": "lte", "days": 7, "hi": 9},
            "match.hi",
            "hi is not used when op is 'lte'; lo and hi are only for 'between'; give days",
        ),
        ({"type": "holding", "held_days_gte": -3}, "match.held_days_gte", "Input should be greater than or equal to 0"),
        (
            {"type": "label", "label": "shark"},
            "match.label",
            "Input should be 'whale', 'diamond_hands', 'new_holder', 'collector', 'voter', 'liquidated', "
            "'staker' or 'flipper'",
        ),
        (
            {"type": "churn", "state": "gone"},
            "match.state",
            "Input should be 'active', 'dormant', 'exited', 'at_risk' or 'resurrected'",
        ),
        (
            {"type": "holding", "min_balance": "1e18"},
            "match.min_balance",
            'must be a decimal string of digits only, e.g. "1000"',
        ),
        ({"type": "holding", "min_balance": str(2**256)}, "match.min_balance", "must be between 0 and 2**256-1"),
        (
            {"type": "holding", "min_balance": "10", "max_balance": "5"},
            "match.max_balance",
            "max_balance (5) must be greater than or equal to min_balance (10)",
        ),
        (
            {"type": "holding", "standard": "erc20", "token_id": "5"},
            "match.token_id",
            "token_id applies to erc721 and erc1155, not erc20",
        ),
        (
            {"type": "field", "field": "score", "op": "gt", "value": "NaN"},
            "match.value",
            "Input should be a finite number",
        ),
        ({"type": "field", "field": "balance", "op": "gt", "value": 1}, "match.field", None),
        (
            {"type": "field", "field": "score", "op": "gt", "value": 1, "vaule": 2},
            "match.vaule",
            "Extra inputs are not permitted",
        ),
        ({"type": "all", "of": []}, "match.of", "List should have at least 1 item after validation, not 0"),
        ({"type": "chain", "chain_id": 0}, "match.chain_id", "Input should be greater than or equal to 1"),
        ({"type": "nope"}, "match", None),
        (_nested(9), "match" + ".rule" * 8, "combinators nest 9 deep here; at most 8 are allowed"),
        (
            {"type": "any", "of": [{"type": "all", "of": [{"type": "tag", "tag": "x"}] * 30}] * 2},
            "match.of[1].of[20]",
            "a rule may hold at most 50 conditions",
        ),
    ],
)
def test_invalid_rules_name_the_field_at_fault(match, field, message):
    # When a malformed rule is parsed
    with pytest.raises(ValidationError) as caught:
        parse_rule({"schema_version": 1, "match": match})
    # Then the first problem names the field the client wrote, with a message saying what to fix
    first = problems(caught.value)[0]
    assert first["field"] == field
    if message is not None:
        assert first["message"] == message


def test_limits_are_inclusive():
    assert parse_rule({"match": _nested(8)})
    assert parse_rule({"match": {"type": "all", "of": [{"type": "tag", "tag": "x"}] * 50}})


def test_an_unknown_schema_version_is_refused():
    with pytest.raises(ValidationError) as caught:
        parse_rule({"schema_version": 2, "match": {"type": "tag", "tag": "vip"}})
    assert problems(caught.value) == [{"field": "schema_version", "message": "Input should be 1"}]


def test_contract_addresses_are_normalised_to_lower_case():
    checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    rule = parse_rule({"match": {"type": "holding", "contract": checksummed}})
    assert isinstance(rule.match, HoldingCondition) and rule.match.contract == checksummed.lower()


# --- evaluation of each condition ---------------------------------------------------------------


def _field(
    name: str, op: str, value: float | None = None, lo: float | None = None, hi: float | None = None
) -> RuleNode:
    return FieldCondition.model_validate({"type": "field", "field": name, "op": op, "value": value, "lo": lo, "hi": hi})


def test_field_conditions_compare_profile_fields():
    facts = _facts(_profile(votes=2, liquidations=0, last_vote=NOW - 5 * DAY))
    assert matches(_field("votes", "gte", 2), facts)
    assert not matches(_field("votes", "gt", 2), facts)
    assert matches(_field("transfers_in", "between", lo=3, hi=3), facts)
    assert matches(_field("transfers_out", "lt", 2), facts)
    assert matches(_field("liquidations", "eq", 0), facts)
    assert matches(_field("distinct_active_days", "eq", 2), facts)
    assert matches(_field("last_vote", "gte", NOW - 6 * DAY), facts)
    assert matches(_field("first_seen", "lte", NOW - 300 * DAY), facts)
    assert matches(_field("last_active", "neq", 0), facts)


def test_a_missing_timestamp_fails_every_comparison_and_not_turns_it_true():
    facts = _facts(_profile(last_vote=None))
    for op in ("gt", "gte", "lt", "lte", "eq", "neq"):
        assert not matches(_field("last_vote", op, 0), facts)
    within = DaysSinceCondition(type="days_since", field="last_vote", op="lte", days=30)
    assert not matches(within, facts)
    assert matches(NotOf(type="not", rule=within), facts)


def test_score_is_the_decayed_score_now():
    # Given a single outgoing-transfer component of 8.0 set 30 days (one half-life) ago
    score = ScoreState(components={"transfer_out": ComponentState(s=8.0, t=NOW - 30 * DAY)})
    facts = _facts(_profile(score=score))
    # Then the rule sees 4.0
    assert facts.score_now == pytest.approx(4.0)
    assert matches(_field("score", "between", lo=3.99, hi=4.01), facts)
    assert not matches(_field("score", "gt", 5), facts)


def test_days_since_conditions():
    facts = _facts(_profile(first_seen=NOW - 3 * DAY, last_active=NOW - 30 * DAY, last_vote=NOW - 10 * DAY))
    inactive_30 = DaysSinceCondition(type="days_since", field="last_active", op="gte", days=30)
    assert matches(inactive_30, facts)
    assert not matches(DaysSinceCondition(type="days_since", field="last_active", op="gt", days=30), facts)
    assert matches(DaysSinceCondition(type="days_since", field="first_seen", op="lte", days=7), facts)
    assert matches(DaysSinceCondition(type="days_since", field="last_vote", op="between", lo=7, hi=14), facts)
    assert not matches(DaysSinceCondition(type="days_since", field="last_vote", op="lt", days=10), facts)


def test_holding_conditions_filter_by_token_chain_standard_balance_and_time_held():
    sword = Holding(chain_id=31338, contract=NFT, standard=Standard.ERC721, balance=2, token_ids=[5, 9], in_count=2)
    potion = Holding(
        chain_id=31338, contract=NFT, standard=Standard.ERC1155, balance=3, id_balances={"7": 3}, in_count=1
    )
    sold = _kith(0, exited_at=NOW - DAY)
    facts = _facts(holdings=[_kith(150, since=NOW - 40 * DAY), sword, potion, sold])

    def holds(**filters: Any) -> bool:
        return matches(HoldingCondition.model_validate({"type": "holding", **filters}), facts)

    assert holds()
    assert holds(contract=KITH, min_adjusted=100.0)
    assert not holds(contract=KITH, min_adjusted=200.0)
    assert holds(contract=KITH, min_balance=str(150 * 10**18), max_balance=str(150 * 10**18))
    assert not holds(contract=KITH, max_balance="1")
    assert holds(contract=KITH, held_days_gte=40) and not holds(contract=KITH, held_days_gte=41)
    assert holds(chain_id=31338, standard="erc721") and not holds(chain_id=31337, standard="erc721")
    assert holds(contract=NFT, token_id="9") and not holds(contract=NFT, token_id="6")
    assert holds(standard="erc1155", token_id="7", min_balance="3") and not holds(
        standard="erc1155", token_id="7", min_balance="4"
    )
    # an NFT held without a known holding start never satisfies a time-held filter
    assert not holds(standard="erc721", held_days_gte=0)
    # a holding sold to zero is not held, whatever the other filters say
    assert not matches(HoldingCondition(type="holding", contract=KITH), _facts(holdings=[sold]))


def test_label_churn_tag_and_chain_conditions():
    facts = _facts(_profile(votes=1, chains={"31338": 2}), tags={"vip"}, population_labels={"whale"})
    assert matches(LabelCondition(type="label", label="whale"), facts)
    assert matches(LabelCondition(type="label", label="voter"), facts)
    assert not matches(LabelCondition(type="label", label="collector"), facts)
    assert matches(ChurnCondition(type="churn", state="active"), facts)
    assert matches(TagCondition(type="tag", tag="vip"), facts) and not matches(
        TagCondition(type="tag", tag="team"), facts
    )
    assert matches(ChainCondition(type="chain", chain_id=31338), facts)
    assert not matches(ChainCondition(type="chain", chain_id=31337), facts)
    at_risk = _facts(churn_state="at_risk")
    assert matches(ChurnCondition(type="churn", state="at_risk"), at_risk)


def test_combinators():
    whale_31338 = parse_rule(WHALES_ON_31338)
    dormant_holder = parse_rule(DORMANT_KITH_HOLDERS)
    voters = parse_rule(VOTERS_NOT_EXITED)
    whale_here = _facts(_profile(chains={"31338": 1}), population_labels={"whale"})
    whale_elsewhere = _facts(_profile(chains={"31337": 1}), population_labels={"whale"})
    assert matches(whale_31338, whale_here) and not matches(whale_31338, whale_elsewhere)

    asleep = _profile(last_active=NOW - 45 * DAY)
    assert matches(dormant_holder, _facts(asleep, [_kith(100)]))
    assert not matches(dormant_holder, _facts(asleep, [_kith(99.9)]))
    assert not matches(dormant_holder, _facts(_profile(), [_kith(100)]))

    voted = _profile(votes=3, last_vote=NOW - DAY)
    assert matches(voters, _facts(voted))
    assert not matches(voters, _facts(voted, [_kith(0, exited_at=NOW - DAY)]))
    assert not matches(voters, _facts(_profile(votes=0)))

    tag, other = TagCondition(type="tag", tag="vip"), TagCondition(type="tag", tag="team")
    facts = _facts(tags={"vip"})
    assert matches(AnyOf(type="any", of=[other, tag]), facts)
    assert not matches(AllOf(type="all", of=[other, tag]), facts)
    assert matches(NotOf(type="not", rule=AllOf(type="all", of=[other, tag])), facts)


# --- time ---------------------------------------------------------------------------------------


def test_an_inactive_for_30_days_rule_flips_exactly_at_last_active_plus_30_days():
    # Given a wallet last active at T, checked 10 days later
    last_active = NOW - 10 * DAY
    facts = _facts(_profile(last_active=last_active))
    inactive = parse_rule({"match": {"type": "days_since", "field": "last_active", "op": "gte", "days": 30}})
    # Then the rule is due exactly at T + 30 days: false one second before, true at that second
    due = time_sensitivity(inactive, facts)
    assert due == last_active + 30 * DAY
    assert not matches(inactive, facts.at(due - 1))
    assert matches(inactive, facts.at(due))
    # And once true, time alone cannot turn it false again
    assert time_sensitivity(inactive, facts.at(due)) is None


def test_a_score_threshold_is_due_the_second_the_decayed_score_drops_below_it():
    score = ScoreState(
        components={
            "transfer_out": ComponentState(s=6.0, t=NOW - 3 * DAY),
            "vote": ComponentState(s=5.0, t=NOW - 20 * DAY),
        }
    )
    facts = _facts(_profile(score=score))
    engaged = _field("score", "gte", 5.0)
    due = time_sensitivity(engaged, facts)
    assert due is not None and due > NOW
    assert matches(engaged, facts.at(due - 1)) and not matches(engaged, facts.at(due))


def test_labels_and_churn_that_follow_from_age_are_scheduled():
    holding = _kith(10, since=NOW - 150 * DAY)
    facts = _facts(_profile(first_seen=NOW - 2 * DAY, last_active=NOW - 2 * DAY), [holding])
    assert time_sensitivity(LabelCondition(type="label", label="new_holder"), facts) == NOW + 5 * DAY + 1
    assert time_sensitivity(LabelCondition(type="label", label="diamond_hands"), facts) == NOW + 5 * DAY
    assert time_sensitivity(ChurnCondition(type="churn", state="dormant"), facts) == NOW + 28 * DAY
    assert time_sensitivity(ChurnCondition(type="churn", state="exited"), facts) is None
    assert time_sensitivity(LabelCondition(type="label", label="voter"), facts) is None
    assert time_sensitivity(ChurnCondition(type="churn", state="at_risk"), _facts(churn_due=NOW + 99)) == NOW + 99


def test_a_false_child_that_time_cannot_change_pins_an_all():
    facts = _facts(tags=set())
    rule = AllOf(
        type="all",
        of=[
            TagCondition(type="tag", tag="vip"),
            DaysSinceCondition(type="days_since", field="last_active", op="gte", days=30),
        ],
    )
    assert time_sensitivity(rule, facts) is None
    assert time_sensitivity(rule, _facts(tags={"vip"})) == NOW - 2 * DAY + 30 * DAY


def test_referenced_and_changed_fields():
    rule = parse_rule(DORMANT_KITH_HOLDERS)
    assert referenced_fields(rule) == {"last_active", "holdings"}
    assert referenced_fields(parse_rule(VOTERS_NOT_EXITED)) == {"labels", "churn_state"}
    before = _facts()
    after = _facts(_profile(transfers_in=4, score=ScoreState(components={"transfer_in": ComponentState(s=1, t=NOW)})))
    assert changed_fields(before, after) == {"transfers_in", "score"}
    assert not referenced_fields(rule) & changed_fields(before, after)
    assert changed_fields(before, after) <= FACT_NAMES and referenced_fields(rule) <= FACT_NAMES


# --- properties ---------------------------------------------------------------------------------

ADDRESSES = [KITH, NFT]
offsets = st.integers(min_value=-2 * DAY, max_value=400 * DAY) | st.sampled_from([0, DAY, 7 * DAY, 30 * DAY])
COMPONENTS = ["transfer_out", "transfer_in", "nft", "vote", "lending"]


@st.composite
def holdings(draw: st.DrawFn) -> Holding:
    standard = draw(st.sampled_from([Standard.ERC20, Standard.ERC721, Standard.ERC1155]))
    balance = draw(st.integers(min_value=0, max_value=3) | st.just(150 * 10**18))
    since = draw(st.none() | offsets.map(lambda o: NOW - o)) if balance > 0 else None
    return Holding(
        chain_id=draw(st.sampled_from([31337, 31338])),
        contract=draw(st.sampled_from(ADDRESSES)),
        standard=standard,
        decimals=18 if standard == Standard.ERC20 else None,
        balance=balance,
        token_ids=list(range(1, balance + 1)) if standard == Standard.ERC721 and balance < 10 else [],
        id_balances={"7": balance} if standard == Standard.ERC1155 and balance else {},
        in_count=draw(st.integers(0, 2)),
        holding_since=since,
        exited_at=None if balance > 0 else draw(st.none() | st.just(NOW - DAY)),
        last_out_time=draw(st.none() | offsets.map(lambda o: NOW - o)),
    )


@st.composite
def wallet_facts(draw: st.DrawFn) -> WalletFacts:
    first_seen = NOW - draw(offsets)
    components = {
        name: ComponentState(s=draw(st.floats(0.01, 40)), t=NOW - draw(st.integers(0, 200 * DAY)))
        for name in draw(st.lists(st.sampled_from(COMPONENTS), unique=True, max_size=3))
    }
    profile = WalletProfile(
        address=WALLET,
        first_seen=first_seen,
        last_active=max(first_seen, NOW - draw(offsets)),
        last_vote=draw(st.none() | offsets.map(lambda o: NOW - o)),
        votes=draw(st.integers(0, 2)),
        transfers_in=draw(st.integers(0, 5)),
        chains={str(c): 1 for c in draw(st.sets(st.sampled_from([31337, 31338])))},
        score=ScoreState(components=components),
    )
    at_risk = draw(st.booleans())
    return WalletFacts.of(
        profile,
        draw(st.lists(holdings(), max_size=3)),
        NOW,
        tags=draw(st.sets(st.sampled_from(["vip", "team"]))),
        population_labels=draw(st.sets(st.just("whale"))),
        churn_state="at_risk" if at_risk else None,
        churn_due=NOW + draw(st.integers(1, 90 * DAY)) if at_risk else None,
    )


days = st.integers(0, 200)
small = st.integers(0, 6).map(float)


def _bounded(kind: str, field: str, op: str, bound: st.SearchStrategy[Any], draw: st.DrawFn) -> dict[str, Any]:
    key = "days" if kind == "days_since" else "value"
    if op == "between":
        lo, hi = sorted((draw(bound), draw(bound)))
        return {"type": kind, "field": field, "op": op, "lo": lo, "hi": hi}
    return {"type": kind, "field": field, "op": op, key: draw(bound)}


@st.composite
def leaves(draw: st.DrawFn) -> RuleNode:
    kind = draw(
        st.sampled_from(["field", "score", "timestamp", "days_since", "holding", "label", "churn", "tag", "chain"])
    )
    ops = ["gt", "gte", "lt", "lte", "eq", "neq", "between"]
    doc: dict[str, Any]
    if kind == "field":
        doc = _bounded(
            "field",
            draw(st.sampled_from(["votes", "transfers_in", "distinct_active_days"])),
            draw(st.sampled_from(ops)),
            small,
            draw,
        )
    elif kind == "score":
        doc = _bounded("field", "score", draw(st.sampled_from(ops)), st.floats(0, 60), draw)
    elif kind == "timestamp":
        stamp = offsets.map(lambda o: float(NOW - o))
        doc = _bounded(
            "field",
            draw(st.sampled_from(["first_seen", "last_active", "last_vote"])),
            draw(st.sampled_from(ops)),
            stamp,
            draw,
        )
    elif kind == "days_since":
        field = draw(st.sampled_from(["first_seen", "last_active", "last_vote"]))
        doc = _bounded("days_since", field, draw(st.sampled_from([*ops[:4], "between"])), days, draw)
    elif kind == "holding":
        doc = {"type": "holding"}
        for key, values in [
            ("chain_id", st.sampled_from([31337, 31338])),
            ("contract", st.sampled_from(ADDRESSES)),
            ("min_balance", st.sampled_from(["1", "2", str(100 * 10**18)])),
            ("min_adjusted", st.sampled_from([1.0, 100.0])),
            ("held_days_gte", days),
        ]:
            if draw(st.booleans()):
                doc[key] = draw(values)
    elif kind == "label":
        doc = {
            "type": "label",
            "label": draw(st.sampled_from(["whale", "diamond_hands", "new_holder", "collector", "voter"])),
        }
    elif kind == "churn":
        doc = {"type": "churn", "state": draw(st.sampled_from(["active", "dormant", "exited", "at_risk"]))}
    elif kind == "tag":
        doc = {"type": "tag", "tag": draw(st.sampled_from(["vip", "team"]))}
    else:
        doc = {"type": "chain", "chain_id": draw(st.sampled_from([31337, 31338]))}
    return SegmentRule.model_validate({"match": doc}).match


rules = st.recursive(
    leaves(),
    lambda children: (
        st.lists(children, min_size=1, max_size=3).map(lambda of: AllOf(type="all", of=of))
        | st.lists(children, min_size=1, max_size=3).map(lambda of: AnyOf(type="any", of=of))
        | children.map(lambda rule: NotOf(type="not", rule=rule))
    ),
    max_leaves=8,
)


def _instants(data: st.DataObject, due: int | None) -> list[int]:
    end = due if due is not None else NOW + 3 * 365 * DAY
    sampled = data.draw(st.lists(st.integers(NOW, end - 1), max_size=4))
    return [t for t in (NOW + 1, end - 1, *sampled) if t < end]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules, facts=wallet_facts(), data=st.data())
def test_time_alone_cannot_change_a_rule_before_it_is_due(rule, facts, data):
    # Given any rule and any wallet, and the instant at which the rule says it may next change
    now_value = matches(rule, facts)
    due = time_sensitivity(rule, facts)
    assert due is None or due > facts.now
    # Then at every instant before it, with no new event, the answer is the same
    for t in _instants(data, due):
        assert matches(rule, facts.at(t)) == now_value, t
    # And `not` inverts the answer and shares the due date
    negated = NotOf(type="not", rule=rule)
    assert matches(negated, facts) is not now_value
    assert time_sensitivity(negated, facts) == due


@settings(max_examples=300, deadline=None)
@given(rule=leaves(), facts=wallet_facts())
def test_a_single_condition_is_due_exactly_when_it_flips(rule, facts):
    due = time_sensitivity(rule, facts)
    if due is not None and facts.churn_due is None:  # churn_due is the churn model's estimate, not ours to check
        assert matches(rule, facts.at(due - 1)) == matches(rule, facts)
        assert matches(rule, facts.at(due)) != matches(rule, facts)
