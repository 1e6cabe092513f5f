"""The segment rule language: rules are data (docs/architecture.md, "Profiles, scores and rules").

A `SegmentRule` is a versioned JSON document whose `match` is a tree of nodes, each tagged by
`type`: the combinators `all`, `any` and `not`, and the conditions `field`, `days_since`,
`holding`, `stake`, `label`, `churn`, `tag`, `chain`, `health` and `tier`. The same models are the API's
request schema, so every field carries a description and every error names the field at fault (see `error_path`).

Semantics worth knowing when writing rules:
- A condition on a timestamp the wallet does not have (never voted, say) is false, whatever the
  operator; `not` turns it true. So "not voted within 30 days" includes wallets that never voted.
- A `holding` condition always requires a positive balance; "does not hold X" is `not` over it.
- `health` looks at the wallet's borrowing positions only: a wallet that owes nothing matches no
  band, not even safe. `health_factor` (a `field`) is the lowest over those positions.
- `stake` looks at the wallet's stakes in vaults and staking contracts, in the underlying token's units;
  `days_since` over `staked_since` is how long the oldest current stake has lasted, over `unstaked_at`
  how long ago the wallet left its last stake (false while it stakes anywhere).
- `holding` with `include_staked` counts a stake as holding its underlying token, when the tracked
  vault or staking contract declares that token.
- `tier` names come from the loyalty settings; a name that is not a tier there matches nobody.
- `nft_bought` and `nft_sold` count NFT units traded on a tracked market; `realised_profit` is the
  profit of NFTs bought and sold in the chain's native coin, in whole coins (ether), over every chain.
- `days_since` counts whole seconds: "op": "gte", "days": 30 turns true exactly 30·86400 s after
  the timestamp, which is what lets the sweep schedule re-evaluation to the second.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.chain.keccak import is_checksum_address

SCHEMA_VERSION: Final = 1
MAX_NESTING = 8  # combinators on any path from the root
MAX_CONDITIONS = 50  # leaf conditions in one rule
MAX_DAYS = 36_500
UINT256_MAX = 2**256 - 1

ProfileField = Literal[
    "score",
    "first_seen",
    "last_active",
    "distinct_active_days",
    "transfers_in",
    "transfers_out",
    "votes",
    "last_vote",
    "liquidations",
    "loyalty_points",
    "health_factor",
    "nft_bought",
    "nft_sold",
    "realised_profit",
]
TimestampField = Literal["first_seen", "last_active", "last_vote", "staked_since", "unstaked_at"]
Comparison = Literal["gt", "gte", "lt", "lte", "eq", "neq", "between"]
AgeComparison = Literal["gt", "gte", "lt", "lte", "between"]
LabelName = Literal["whale", "diamond_hands", "new_holder", "collector", "voter", "liquidated", "staker", "flipper"]
HealthBand = Literal["safe", "warn", "urgent", "critical"]
ChurnState = Literal["active", "dormant", "exited", "at_risk", "resurrected"]
HoldingStandard = Literal["erc20", "erc721", "erc1155"]

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_DECIMAL = re.compile(r"^[0-9]{1,78}$")

Number = Annotated[float, Field(allow_inf_nan=False)]
Days = Annotated[int, Field(ge=0, le=MAX_DAYS)]


def _uint256(value: Any) -> int:
    # Strings keep uint256 exact through JavaScript clients; ints are accepted from Python callers.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PydanticCustomError("uint256_type", "must be an unsigned integer given as a decimal string")
    if isinstance(value, str) and not _DECIMAL.match(value):
        raise PydanticCustomError("uint256_format", 'must be a decimal string of digits only, e.g. "1000"')
    number = int(value)
    if not 0 <= number <= UINT256_MAX:
        raise PydanticCustomError("uint256_range", "must be between 0 and 2**256-1")
    return number


Uint256 = Annotated[
    int,
    BeforeValidator(_uint256),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]{1,78}$", "description": "uint256 as a decimal string"}),
]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _requirement(op: str | None, present: bool, name: str, single: str) -> None:
    """`single` (value or days) serves the one-bound operators, lo/hi serve `between`; never both."""
    if op is None:  # op itself failed validation and already has its own error
        return
    wanted = (op == "between") == (name != single)
    if wanted and not present:
        raise PydanticCustomError("missing_bound", "{name} is required when op is '{op}'", {"name": name, "op": op})
    if present and not wanted:
        hint = "give lo and hi instead" if op == "between" else f"lo and hi are only for 'between'; give {single}"
        raise PydanticCustomError(
            "unused_bound", "{name} is not used when op is '{op}'; {hint}", {"name": name, "op": op, "hint": hint}
        )


def _ordered(lo: float | None, hi: float | None, lo_name: str, hi_name: str) -> None:
    if lo is not None and hi is not None and hi < lo:
        raise PydanticCustomError(
            "bounds_order",
            "{hi_name} ({hi}) must be greater than or equal to {lo_name} ({lo})",
            {"hi_name": hi_name, "hi": hi, "lo_name": lo_name, "lo": lo},
        )


def _bounds(single: str) -> Any:
    """The validator of a comparison's bounds: `single` for the one-bound operators, lo <= hi for `between`."""

    def shape(cls: type[_Node], bound: float | None, info: ValidationInfo) -> float | None:
        assert info.field_name is not None
        _requirement(info.data.get("op"), bound is not None, info.field_name, single)
        if info.field_name == "hi":
            _ordered(info.data.get("lo"), bound, "lo", "hi")
        return bound

    return field_validator(single, "lo", "hi")(classmethod(shape))


class FieldCondition(_Node):
    """Compares one profile field with a constant. `score` is the decayed score at evaluation time."""

    type: Literal["field"] = Field(description="condition on a profile field")
    field: ProfileField = Field(
        description="profile field; first_seen, last_active and last_vote are unix seconds, score is decayed to now"
    )
    op: Comparison = Field(description="comparison; 'between' is inclusive at both ends and takes lo and hi")
    value: Number | None = Field(
        default=None, validate_default=True, description="the constant, for every op but between"
    )
    lo: Number | None = Field(default=None, validate_default=True, description="lower bound, for 'between'")
    hi: Number | None = Field(default=None, validate_default=True, description="upper bound, for 'between'")

    _shape = _bounds("value")


class DaysSinceCondition(_Node):
    """How long ago a profile timestamp was, in whole days of 86400 s: e.g. inactive for 30+ days."""

    type: Literal["days_since"] = Field(description="condition on the age of a profile timestamp")
    field: TimestampField = Field(description="the timestamp whose age is measured")
    op: AgeComparison = Field(
        description="gte 30 = at least 30 days ago; lte 7 = within the last 7 days; 'between' is inclusive"
    )
    days: Days | None = Field(
        default=None, validate_default=True, description="the age in days, for every op but between"
    )
    lo: Days | None = Field(default=None, validate_default=True, description="minimum age in days, for 'between'")
    hi: Days | None = Field(default=None, validate_default=True, description="maximum age in days, for 'between'")

    _shape = _bounds("days")


class HoldingCondition(_Node):
    """The wallet currently holds (positive balance) a token matching every given filter."""

    type: Literal["holding"] = Field(description="condition on the wallet's token holdings")
    chain_id: int | None = Field(default=None, ge=1, description="only holdings on this chain")
    contract: str | None = Field(default=None, description="only this token contract (0x-prefixed, 20 bytes)")
    standard: HoldingStandard | None = Field(default=None, description="only tokens of this standard")
    token_id: Uint256 | None = Field(
        default=None, description="NFT id (erc721/erc1155); the balance filters then apply to that id alone"
    )
    min_balance: Uint256 | None = Field(default=None, description="raw balance at least this (base units)")
    max_balance: Uint256 | None = Field(default=None, description="raw balance at most this (base units)")
    min_adjusted: Number | None = Field(default=None, ge=0, description="balance divided by 10**decimals, at least")
    max_adjusted: Number | None = Field(default=None, ge=0, description="balance divided by 10**decimals, at most")
    held_days_gte: Days | None = Field(default=None, description="held continuously for at least this many days")
    include_staked: bool | None = Field(
        default=None,
        description="erc20: count what the wallet stakes in vaults and staking contracts that hold the token",
    )

    @field_validator("contract")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return _checked_address(value)

    @field_validator("include_staked")
    @classmethod
    def _staked_are_fungible(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        if value and (info.data.get("standard") not in (None, "erc20") or info.data.get("token_id") is not None):
            raise PydanticCustomError("include_staked_standard", "include_staked applies to erc20 holdings only")
        return value

    @field_validator("token_id")
    @classmethod
    def _token_id_needs_nft(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("standard") == "erc20":
            raise PydanticCustomError("token_id_standard", "token_id applies to erc721 and erc1155, not erc20")
        return value

    @field_validator("max_balance")
    @classmethod
    def _balance_order(cls, value: int | None, info: ValidationInfo) -> int | None:
        _ordered(info.data.get("min_balance"), value, "min_balance", "max_balance")
        return value

    @field_validator("max_adjusted")
    @classmethod
    def _adjusted_order(cls, value: float | None, info: ValidationInfo) -> float | None:
        _ordered(info.data.get("min_adjusted"), value, "min_adjusted", "max_adjusted")
        return value


def _checked_address(value: str | None) -> str | None:
    if value is None:
        return None
    if not _ADDRESS.match(value):
        raise PydanticCustomError("address_format", "must be a 0x-prefixed 20-byte hex address (42 characters)")
    mixed_case = value[2:] != value[2:].lower() and value[2:] != value[2:].upper()
    # Mixed case claims an EIP-55 checksum; a mismatch is almost always a typo worth refusing.
    if mixed_case and not is_checksum_address(value):
        raise PydanticCustomError("address_checksum", "mixed-case address fails its EIP-55 checksum")
    return value.lower()


class StakeCondition(_Node):
    """The wallet currently stakes (a positive stake) in a vault or staking contract matching every filter."""

    type: Literal["stake"] = Field(description="condition on the wallet's stakes in vaults and staking contracts")
    chain_id: int | None = Field(default=None, ge=1, description="only stakes on this chain")
    contract: str | None = Field(default=None, description="only this vault or staking contract")
    underlying: str | None = Field(default=None, description="only stakes of this token (as the contract declares)")
    min_balance: Uint256 | None = Field(
        default=None, description="staked balance at least this, in the underlying token's base units"
    )
    max_balance: Uint256 | None = Field(default=None, description="staked balance at most this (base units)")
    staked_days_gte: Days | None = Field(default=None, description="staked continuously for at least this many days")

    @field_validator("contract", "underlying")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return _checked_address(value)

    @field_validator("max_balance")
    @classmethod
    def _balance_order(cls, value: int | None, info: ValidationInfo) -> int | None:
        _ordered(info.data.get("min_balance"), value, "min_balance", "max_balance")
        return value


class LabelCondition(_Node):
    type: Literal["label"] = Field(description="the wallet carries a label")
    label: LabelName = Field(
        description="whale, diamond_hands, new_holder, collector, voter, liquidated, staker or flipper (sold an NFT "
        "within the flipper_days setting of buying or minting it)"
    )


class ChurnCondition(_Node):
    type: Literal["churn"] = Field(description="the wallet is in a churn state")
    state: ChurnState = Field(description="active, dormant, exited, at_risk or resurrected")


class TagCondition(_Node):
    type: Literal["tag"] = Field(description="the wallet carries a tag set by an operator")
    tag: str = Field(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$", description="the tag, e.g. vip")


class ChainCondition(_Node):
    type: Literal["chain"] = Field(description="the wallet has activity on a chain")
    chain_id: int = Field(ge=1, description="EVM chain id, e.g. 1 or 31337")


class HealthCondition(_Node):
    """A borrowing position of the wallet sits in a health-factor band (safe >= 1.5 > warn >= 1.2 >
    urgent >= 1.05 > critical, by default; the thresholds are settings)."""

    type: Literal["health"] = Field(description="condition on the health-factor band of a borrowing position")
    band: HealthBand = Field(description="safe, warn, urgent or critical")
    or_worse: bool = Field(default=False, description="also match the bands more severe than `band`")
    chain_id: int | None = Field(default=None, ge=1, description="only positions on this chain")


class TierCondition(_Node):
    """The wallet's loyalty tier, as the versioned loyalty formula computes it now."""

    type: Literal["tier"] = Field(description="condition on the loyalty tier")
    tier: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$", description="a tier name, e.g. gold")
    or_higher: bool = Field(default=False, description="also match the tiers above `tier`")


class AllOf(_Node):
    type: Literal["all"] = Field(description="true when every child is true")
    of: list[RuleNode] = Field(min_length=1, max_length=MAX_CONDITIONS, description="the children")


class AnyOf(_Node):
    type: Literal["any"] = Field(description="true when at least one child is true")
    of: list[RuleNode] = Field(min_length=1, max_length=MAX_CONDITIONS, description="the children")


class NotOf(_Node):
    type: Literal["not"] = Field(description="true when the child is false")
    rule: RuleNode = Field(description="the negated child")


Condition = (
    FieldCondition
    | DaysSinceCondition
    | HoldingCondition
    | StakeCondition
    | LabelCondition
    | ChurnCondition
    | TagCondition
    | ChainCondition
    | HealthCondition
    | TierCondition
)
RuleNode = Annotated[AllOf | AnyOf | NotOf | Condition, Field(discriminator="type")]
NODE_TYPES = frozenset(
    {"all", "any", "not", "field", "days_since", "holding", "stake", "label", "churn", "tag", "chain", "health", "tier"}
)

# No explicit model_rebuild() of AllOf, AnyOf and NotOf: pydantic completes these recursive models on their
# first use, and the API function, which builds models lazily (shared/api/__init__.py), then pays for them
# only when a request carries a rule rather than at every cold start.


class SegmentRule(BaseModel):
    """A segment's membership rule, as stored and as sent to the API."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "schema_version": 1,
                    "match": {
                        "type": "all",
                        "of": [{"type": "label", "label": "whale"}, {"type": "chain", "chain_id": 31338}],
                    },
                }
            ]
        },
    )

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, description="version of the rule language")
    match: RuleNode = Field(description="the rule tree; a wallet is a member when it is true")

    @field_validator("match", mode="before")
    @classmethod
    def _bounded(cls, raw: Any) -> Any:
        # Checked on the raw tree, top-down, so an oversized rule fails before it is validated in full.
        conditions = 0
        for loc, node, nesting in _walk_raw(raw, (), 0):
            kind = _get(node, "type")
            if kind in ("all", "any", "not") and nesting > MAX_NESTING:
                raise _error_at(
                    loc,
                    node,
                    "rule_too_deep",
                    f"combinators nest {nesting} deep here; at most {MAX_NESTING} are allowed",
                )
            if kind in NODE_TYPES and kind not in ("all", "any", "not"):
                conditions += 1
                if conditions > MAX_CONDITIONS:
                    raise _error_at(
                        loc, node, "too_many_conditions", f"a rule may hold at most {MAX_CONDITIONS} conditions"
                    )
        return raw


def _get(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    return getattr(node, key, None)


def _walk_raw(node: Any, loc: tuple[str | int, ...], nesting: int) -> Iterator[tuple[tuple[str | int, ...], Any, int]]:
    """Yields (loc, node, combinators on the path including this one), locs shaped as pydantic's."""
    kind = _get(node, "type")
    if not isinstance(kind, str):
        return
    nesting += kind in ("all", "any", "not")
    yield loc, node, nesting
    if kind in ("all", "any"):
        children = _get(node, "of")
        if isinstance(children, (list, tuple)):
            for i, child in enumerate(children):
                yield from _walk_raw(child, (*loc, kind, "of", i), nesting)
    elif kind == "not":
        yield from _walk_raw(_get(node, "rule"), (*loc, kind, "rule"), nesting)


def _error_at(loc: tuple[str | int, ...], node: Any, code: str, message: str) -> ValidationError:
    # A ValidationError raised inside a validator keeps its locs, prefixed with the field's ("match").
    return ValidationError.from_exception_data(
        "SegmentRule", [InitErrorDetails(type=PydanticCustomError(code, message), loc=loc, input=node)]
    )


def error_path(loc: tuple[str | int, ...]) -> str:
    """A pydantic error location as the field path a client wrote, e.g. `match.of[0].rule.value`.

    Pydantic inserts the union tag after every rule slot (`match`, `rule`, a list index); the
    client never wrote that key, so it is dropped.
    """
    parts: list[str] = []
    skip_tag = False
    for item in loc:
        if skip_tag and isinstance(item, str) and item in NODE_TYPES:
            skip_tag = False
            continue
        skip_tag = False
        if isinstance(item, int):
            parts.append(f"[{item}]")
            skip_tag = True
        else:
            parts.append(("." if parts else "") + item)
            skip_tag = item in ("match", "rule")
    return "".join(parts)


def problems(exc: ValidationError) -> list[dict[str, str]]:
    """The errors of a rule as {"field", "message"} pairs, ready for a 422 body."""
    return [{"field": error_path(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]


def parse_rule(document: str | bytes | dict[str, Any]) -> SegmentRule:
    if isinstance(document, dict):
        return SegmentRule.model_validate(document)
    return SegmentRule.model_validate_json(document)
