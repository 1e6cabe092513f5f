"""What an airdrop snapshot is: its amount rule, the rule's hash and the immutable snapshot record.

Pure: no I/O. The rule's hash is SHA-256 over its canonical JSON (keys sorted, no spaces, amounts as
decimal strings), so anyone holding the rule can recompute it and compare it with the snapshot's.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter, field_validator

from shared.airdrops.merkle import UINT256_MAX

_UINT256_PATTERN = r"^[0-9]{1,78}$"


def _uint256(value: str) -> str:
    if int(value) > UINT256_MAX:
        raise ValueError("must fit a uint256")
    return str(int(value))


class FixedAmount(BaseModel):
    """Every member gets the same amount (raw token units)."""

    kind: Literal["fixed"] = "fixed"
    amount: str = Field(pattern=_UINT256_PATTERN, description="raw token units, a decimal string")

    @field_validator("amount")
    @classmethod
    def _positive_uint256(cls, value: str) -> str:
        if int(value) == 0:
            raise ValueError("must be positive: a zero leaf pays nothing")
        return _uint256(value)


class BalanceAtBlock(BaseModel):
    """Each member gets its balance of `token` at the snapshot's block, times `numerator / denominator`
    (rounded down). Members with nothing get no leaf."""

    kind: Literal["balance"] = "balance"
    token: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="the ERC-20 read with balanceOf at the block")
    numerator: str = Field(default="1", pattern=_UINT256_PATTERN)
    denominator: str = Field(default="1", pattern=_UINT256_PATTERN)

    @field_validator("token")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("numerator", "denominator")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return _uint256(value)

    @field_validator("denominator")
    @classmethod
    def _nonzero(cls, value: str) -> str:
        if int(value) == 0:
            raise ValueError("must be positive")
        return value

    def amount_of(self, balance: int) -> int:
        return balance * int(self.numerator) // int(self.denominator)


AmountRule = Annotated[FixedAmount | BalanceAtBlock, Field(discriminator="kind")]


def canonical_json(rule: FixedAmount | BalanceAtBlock) -> str:
    return json.dumps(rule.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def rule_hash(rule: FixedAmount | BalanceAtBlock) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(rule).encode("utf-8")).hexdigest()


class AirdropSnapshot(BaseModel):
    """A segment's recipients pinned at a final block: written once, never changed."""

    snapshot_id: str
    segment_id: str
    segment_version: int
    chain_id: int
    block: int
    block_hash: str
    block_time: int
    final_block: int = Field(description="the chain's final block when the snapshot was taken")
    rule: AmountRule
    rule_hash: str
    recipients: int
    total: str = Field(description="the sum of the amounts, raw units, a decimal string")
    merkle_root: str
    pages: int
    created_at: int


class RecipientPage(BaseModel):
    """Up to PAGE_SIZE (address, amount) rows, amounts as decimal strings, addresses ascending."""

    rows: list[tuple[str, str]]


class Distributor(BaseModel):
    """The distributor contract that pays a snapshot, checked on chain to hold the snapshot's root."""

    snapshot_id: str
    chain_id: int
    address: str
    token: str
    linked_at: int


_RULE: TypeAdapter[FixedAmount | BalanceAtBlock] = TypeAdapter(AmountRule)


def parse_amount_rule(raw: object) -> FixedAmount | BalanceAtBlock:
    """A rule from its JSON shape; raises pydantic's ValidationError."""
    return _RULE.validate_python(raw)
