"""Airdrop amount rules: their validation, their canonical hash, paging and the finality refusal."""

from __future__ import annotations

import hashlib

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.airdrops.model import AmountRule, BalanceAtBlock, FixedAmount, canonical_json, rule_hash
from shared.airdrops.snapshot import BlockNotFinal
from shared.airdrops.store import PAGE_SIZE, paged

RULE: TypeAdapter[FixedAmount | BalanceAtBlock] = TypeAdapter(AmountRule)
TOKEN = "0x" + "Ab" * 20


def test_the_hash_is_sha256_of_the_canonical_json() -> None:
    rule = RULE.validate_python({"kind": "fixed", "amount": "1000"})
    assert canonical_json(rule) == '{"amount":"1000","kind":"fixed"}'
    assert rule_hash(rule) == "sha256:" + hashlib.sha256(b'{"amount":"1000","kind":"fixed"}').hexdigest()


def test_one_rule_written_differently_has_one_hash_and_another_rule_another() -> None:
    first = RULE.validate_python({"token": TOKEN, "kind": "balance", "numerator": "01", "denominator": "2"})
    second = RULE.validate_python({"kind": "balance", "denominator": "2", "token": TOKEN.lower(), "numerator": "1"})
    third = RULE.validate_python({"kind": "balance", "denominator": "3", "token": TOKEN, "numerator": "1"})
    assert rule_hash(first) == rule_hash(second) != rule_hash(third)
    assert rule_hash(RULE.validate_python({"kind": "fixed", "amount": "7"})) != rule_hash(first)


def test_a_balance_rule_scales_and_rounds_down() -> None:
    rule = BalanceAtBlock(token=TOKEN, numerator="1", denominator="3")
    assert [rule.amount_of(b) for b in (0, 2, 3, 10**18)] == [0, 0, 1, 333333333333333333]


@pytest.mark.parametrize(
    "raw",
    [
        {"kind": "fixed", "amount": "0"},
        {"kind": "fixed", "amount": "-5"},
        {"kind": "fixed", "amount": str(1 << 256)},
        {"kind": "fixed", "amount": 1.5},
        {"kind": "balance", "token": "0x1234"},
        {"kind": "balance", "token": TOKEN, "denominator": "0"},
        {"kind": "stake", "amount": "1"},
    ],
)
def test_malformed_rules_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RULE.validate_python(raw)


def test_recipients_are_paged_so_no_item_nears_400_kb() -> None:
    rows = [(f"0x{i:040x}", (1 << 256) - 1) for i in range(2 * PAGE_SIZE + 1)]
    pages = paged(rows)
    assert [len(p.rows) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 1]
    assert max(len(p.model_dump_json()) for p in pages) < 200_000
    assert [(a, int(n)) for p in pages for a, n in p.rows] == rows


def test_the_finality_refusal_says_where_the_chain_is_and_when_to_ask_again() -> None:
    message = str(BlockNotFinal(block=120, final=117, head=129))
    assert "block 120 is not final" in message and "129" in message and "117" in message
