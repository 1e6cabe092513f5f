"""Evaluating segment rules against one wallet, and when that answer can next change by time alone.

`matches` answers membership now. `time_sensitivity` gives the earliest instant after now at which
the answer could flip with no new event (ages crossing a day count, the decaying score crossing a
threshold, labels and churn states that follow from ages). The sweep stores it as a due-date key,
so it must never be later than the true flip; it may be earlier, which only costs a re-evaluation.
"""

from __future__ import annotations

from shared import loyalty as loyalty_formula
from shared import scoring
from shared.churn import MAX_DUE_UNIX
from shared.crossing import first_second
from shared.events import Standard
from shared.profiles.model import DAY, Holding
from shared.profiles.trades import native_profit
from shared.segments.facts import HEALTH_BANDS, WalletFacts
from shared.segments.rules import (
    AllOf,
    AnyOf,
    ChurnCondition,
    Condition,
    DaysSinceCondition,
    FieldCondition,
    HealthCondition,
    HoldingCondition,
    LabelCondition,
    NotOf,
    RuleNode,
    SegmentRule,
    StakeCondition,
    TagCondition,
    TierCondition,
)
from shared.segments.stakes import holdings_for, stake_due, stake_matches, stakes_for

__all__ = [
    "Leaf",
    "changed_fields",
    "matches",
    "referenced_fields",
    "time_sensitivity",
]


def matches(rule: SegmentRule | RuleNode, facts: WalletFacts) -> bool:
    node = rule.match if isinstance(rule, SegmentRule) else rule
    if isinstance(node, AllOf):
        return all(matches(child, facts) for child in node.of)
    if isinstance(node, AnyOf):
        return any(matches(child, facts) for child in node.of)
    if isinstance(node, NotOf):
        return not matches(node.rule, facts)
    return _leaf_value(node, facts)


def time_sensitivity(rule: SegmentRule | RuleNode, facts: WalletFacts) -> int | None:
    """The earliest unix time after facts.now at which `matches` could change with no new event.

    None when only an event can change it (or not before MAX_DUE_UNIX). Exact for each condition;
    for combinators a lower bound that ignores children which cannot matter (a false child of `all`
    that never turns true keeps the whole `all` false).
    """
    due = _next_change(rule.match if isinstance(rule, SegmentRule) else rule, facts)[1]
    return due if due is not None and due <= MAX_DUE_UNIX else None


def referenced_fields(rule: SegmentRule | RuleNode) -> set[str]:
    """The facts a rule reads, named as in FACT_NAMES; compare with `changed_fields` to skip work."""
    node = rule.match if isinstance(rule, SegmentRule) else rule
    if isinstance(node, (AllOf, AnyOf)):
        return set().union(*(referenced_fields(child) for child in node.of))
    if isinstance(node, NotOf):
        return referenced_fields(node.rule)
    if isinstance(node, (FieldCondition, DaysSinceCondition)):
        return {node.field}
    if isinstance(node, HoldingCondition):
        return {"holdings", "staking"} if node.include_staked else {"holdings"}
    if isinstance(node, StakeCondition):
        return {"staking"}
    if isinstance(node, LabelCondition):
        return {"labels"}
    if isinstance(node, ChurnCondition):
        return {"churn_state"}
    if isinstance(node, TagCondition):
        return {"tags"}
    if isinstance(node, HealthCondition):
        return {"health"}
    if isinstance(node, TierCondition):
        return {"tier"}
    return {"chains"}


def changed_fields(before: WalletFacts, after: WalletFacts) -> set[str]:
    """Which facts differ between two snapshots of one wallet, named as referenced_fields names them."""
    changed: set[str] = set()
    for name in ("first_seen", "last_active", "transfers_in", "transfers_out", "votes", "last_vote", "liquidations"):
        if getattr(before.profile, name) != getattr(after.profile, name):
            changed.add(name)
    if before.profile.staking != after.profile.staking:
        changed |= {"staking", "staked_since", "unstaked_at"}
    for name in ("nft_bought", "nft_sold"):
        if getattr(before.profile, name) != getattr(after.profile, name):
            changed.add(name)
    if before.profile.nft_trades != after.profile.nft_trades:
        changed.add("realised_profit")
    if before.profile.distinct_active_days != after.profile.distinct_active_days:
        changed.add("distinct_active_days")
    if before.profile.score != after.profile.score or before.score_now != after.score_now:
        changed.add("score")
    if set(before.profile.chains) != set(after.profile.chains):
        changed.add("chains")
    if list(before.holdings) != list(after.holdings):
        changed.add("holdings")
    if set(before.labels) != set(after.labels):
        changed.add("labels")
    if before.churn_state != after.churn_state:
        changed.add("churn_state")
    if set(before.tags) != set(after.tags):
        changed.add("tags")
    if before.health != after.health:
        changed.add("health")
    if before.min_health_factor != after.min_health_factor:
        changed.add("health_factor")
    if before.tier != after.tier:
        changed.add("tier")
    if before.loyalty_points != after.loyalty_points:
        changed.add("loyalty_points")
    return changed


# --- conditions -----------------------------------------------------------------------------------

Leaf = Condition


def _leaf_value(node: Leaf, facts: WalletFacts) -> bool:
    if isinstance(node, FieldCondition):
        value = _field_value(node, facts)
        return value is not None and _compare(value, node)
    if isinstance(node, DaysSinceCondition):
        return _age_window(node, facts)[0]
    if isinstance(node, HoldingCondition):
        return any(_holding_matches(h, node, facts.now) for h in holdings_for(node, facts))
    if isinstance(node, StakeCondition):
        return any(stake_matches(p, node, facts.now) for p in stakes_for(node, facts))
    if isinstance(node, LabelCondition):
        return node.label in facts.labels
    if isinstance(node, ChurnCondition):
        return facts.churn_state == node.state
    if isinstance(node, TagCondition):
        return node.tag in facts.tags
    if isinstance(node, HealthCondition):
        return _health_matches(node, facts)
    if isinstance(node, TierCondition):
        return _tier_matches(node, facts)
    return facts.profile.chains.get(str(node.chain_id), 0) > 0


def _health_matches(node: HealthCondition, facts: WalletFacts) -> bool:
    wanted = HEALTH_BANDS[HEALTH_BANDS.index(node.band) :] if node.or_worse else (node.band,)
    return any(band in wanted and node.chain_id in (None, chain_id) for chain_id, band in facts.health)


def _tier_matches(node: TierCondition, facts: WalletFacts) -> bool:
    if facts.tier is None:
        return False
    if not node.or_higher:
        return facts.tier == node.tier
    order = [t.name for t in facts.loyalty_settings.tiers]
    return node.tier in order and facts.tier in order and order.index(facts.tier) >= order.index(node.tier)


def _next_change(node: RuleNode, facts: WalletFacts) -> tuple[bool, int | None]:
    if isinstance(node, NotOf):
        value, due = _next_change(node.rule, facts)
        return not value, due
    if isinstance(node, (AllOf, AnyOf)):
        children = [_next_change(child, facts) for child in node.of]
        # all: while true, the first child to flip flips it; while false, every false child must flip first.
        # any is the mirror image.
        decisive = isinstance(node, AnyOf)
        deciding = [due for value, due in children if value == decisive]
        if deciding:
            return decisive, None if None in deciding else max(d for d in deciding if d is not None)
        return not decisive, min((d for _, d in children if d is not None), default=None)
    return _leaf_value(node, facts), _leaf_due(node, facts)


def _leaf_due(node: Leaf, facts: WalletFacts) -> int | None:
    if isinstance(node, FieldCondition):
        if node.field == "loyalty_points":
            return _points_due(node, facts)
        return _score_due(node, facts) if node.field == "score" else None
    if isinstance(node, TierCondition):
        if facts.loyalty is None:
            return None
        return loyalty_formula.next_change(facts.loyalty, facts.now, facts.loyalty_settings)
    if isinstance(node, DaysSinceCondition):
        return _age_window(node, facts)[1]
    if isinstance(node, HoldingCondition):
        return _holding_due(node, facts)
    if isinstance(node, StakeCondition):
        return stake_due(node, facts)
    if isinstance(node, LabelCondition):
        return _label_due(node, facts)
    if isinstance(node, ChurnCondition):
        return _churn_due(node, facts)
    return None


def _window(now: int, start: int | None, end: int | None) -> tuple[bool, int | None]:
    """A condition true exactly for start <= t < end (None = unbounded): its value now and next flip."""
    if start is not None and now < start:
        return False, start
    if end is None:
        return True, None
    if now < end:
        return True, end
    return False, None


def _field_value(node: FieldCondition, facts: WalletFacts) -> float | None:
    if node.field == "score":
        return facts.score_now
    if node.field == "loyalty_points":
        return facts.loyalty_points
    if node.field == "health_factor":
        return facts.min_health_factor
    if node.field == "distinct_active_days":
        return facts.profile.distinct_active_days
    if node.field == "realised_profit":
        return native_profit(facts.profile)
    value: int | None = getattr(facts.profile, node.field)
    return value


def _compare(x: float, node: FieldCondition) -> bool:
    if node.op == "between":
        assert node.lo is not None and node.hi is not None
        return node.lo <= x <= node.hi
    c = node.value
    assert c is not None
    return {
        "gt": x > c,
        "gte": x >= c,
        "lt": x < c,
        "lte": x <= c,
        "eq": x == c,
        "neq": x != c,
    }[node.op]


def _age_window(node: DaysSinceCondition, facts: WalletFacts) -> tuple[bool, int | None]:
    ts: int | None = getattr(facts.profile, node.field)
    if ts is None:
        return False, None
    # age = t - ts in seconds; "age >= d days" is t >= ts + d·DAY, and "age > d days" starts one second later.
    if node.op == "between":
        assert node.lo is not None and node.hi is not None
        return _window(facts.now, ts + node.lo * DAY, ts + node.hi * DAY + 1)
    assert node.days is not None
    edge = ts + node.days * DAY
    start, end = {
        "gt": (edge + 1, None),
        "gte": (edge, None),
        "lt": (None, edge),
        "lte": (None, edge + 1),
    }[node.op]
    return _window(facts.now, start, end)


def _score_due(node: FieldCondition, facts: WalletFacts) -> int | None:
    """Without events the score only decays, so each threshold is crossed at most once, downwards."""
    v = facts.score_now
    if node.op == "between":
        assert node.lo is not None and node.hi is not None
        if v > node.hi:
            return _score_enters(facts, node.lo, node.hi)
        if v >= node.lo:
            return _score_reaches(facts, node.lo, strict=True)
        return None
    c = node.value
    assert c is not None
    if node.op in ("eq", "neq") and v > c:
        return _score_enters(facts, c, c)
    if node.op in ("gt", "lte") and v > c:
        return _score_reaches(facts, c, strict=False)
    if node.op in ("gte", "lt", "eq", "neq") and v >= c:
        return _score_reaches(facts, c, strict=True)
    return None


def _points_due(node: FieldCondition, facts: WalletFacts) -> int | None:
    """Without events loyalty points only grow: each threshold of the condition is crossed at most once,
    upwards, at reaching it (>=) and at passing it (>). The earliest such instant bounds every flip."""
    if facts.loyalty is None or facts.loyalty_points is None:
        return None
    thresholds = [node.lo, node.hi] if node.op == "between" else [node.value]
    due: list[int] = []
    for threshold in (t for t in thresholds if t is not None):
        strict = facts.loyalty_points >= threshold
        when = loyalty_formula.first_reaching(facts.loyalty, facts.now, threshold, facts.loyalty_settings, strict)
        if when is not None:
            due.append(when)
    return min(due, default=None)


def _score_enters(facts: WalletFacts, lo: float, hi: float) -> int | None:
    """When a score now above hi first lies in [lo, hi]; None when one second's decay steps right over it."""
    due = _score_reaches(facts, hi, strict=False)
    if due is None or scoring.score_at(facts.profile.score, due, facts.score_settings) < lo:
        return None
    return due


def _score_reaches(facts: WalletFacts, threshold: float, strict: bool) -> int | None:
    """The first whole second after now at which score < threshold (strict) or <= threshold.

    Found by exponential search then bisection on score_at itself, so the answer agrees to the
    second with what `matches` will compute then, rounding included.
    """
    state, settings = facts.profile.score, facts.score_settings
    if threshold < 0 or (strict and threshold <= 0):
        return None  # the score is never negative
    if not any(c.s > 0 for c in state.components.values()):
        return None  # nothing decays: the score is constant

    def reached(t: int) -> bool:
        value = scoring.score_at(state, t, settings)
        return value < threshold if strict else value <= threshold

    below, step = facts.now, 1
    while not reached(facts.now + step):
        if facts.now + step > MAX_DUE_UNIX:
            return None
        below, step = facts.now + step, step * 2
    above = facts.now + step
    return first_second(below, above, reached)


def _holding_amount(holding: Holding, node: HoldingCondition) -> tuple[int, float] | None:
    """The raw and decimals-adjusted amount the condition looks at, or None when the filters exclude it."""
    if node.chain_id is not None and holding.chain_id != node.chain_id:
        return None
    if node.contract is not None and holding.contract.lower() != node.contract:
        return None
    if node.standard is not None and holding.standard != Standard(node.standard):
        return None
    if node.token_id is None:
        return holding.balance, holding.adjusted_balance
    if holding.standard in (Standard.ERC721, Standard.ERC1155):
        amount = holding.units_of(node.token_id)
    else:
        return None
    return amount, float(amount)


def _holding_static(holding: Holding, node: HoldingCondition) -> bool:
    """The part of a holding condition that only an event can change."""
    amounts = _holding_amount(holding, node)
    if amounts is None:
        return False
    raw, adjusted = amounts
    return (
        raw > 0
        and (node.min_balance is None or raw >= node.min_balance)
        and (node.max_balance is None or raw <= node.max_balance)
        and (node.min_adjusted is None or adjusted >= node.min_adjusted)
        and (node.max_adjusted is None or adjusted <= node.max_adjusted)
    )


def _held_from(holding: Holding, days: int) -> int | None:
    """The instant from which the holding has been held `days` days; None while it is not held."""
    return None if holding.holding_since is None else holding.holding_since + days * DAY


def _holding_matches(holding: Holding, node: HoldingCondition, now: int) -> bool:
    if not _holding_static(holding, node):
        return False
    if node.held_days_gte is None:
        return True
    held_from = _held_from(holding, node.held_days_gte)
    return held_from is not None and now >= held_from


def _holding_due(node: HoldingCondition, facts: WalletFacts) -> int | None:
    # Once true it stays true: balances need events, and held time only grows.
    days = node.held_days_gte
    if days is None or _leaf_value(node, facts):
        return None
    starts = [
        held_from
        for h in holdings_for(node, facts)
        if _holding_static(h, node) and (held_from := _held_from(h, days)) is not None and held_from > facts.now
    ]
    return min(starts, default=None)


def _label_due(node: LabelCondition, facts: WalletFacts) -> int | None:
    """Mirrors the age thresholds in shared.labels.labels_for; whale, voter and collector need events."""
    settings, now = facts.label_settings, facts.now
    if node.label == "new_holder":
        first_seen = facts.profile.first_seen
        if first_seen is None:
            return None
        return _window(now, None, first_seen + settings.new_holder_days * DAY + 1)[1]
    if node.label == "diamond_hands":
        if node.label in facts.labels:
            return None
        starts = [
            h.holding_since + settings.diamond_hands_days * DAY
            for h in facts.holdings
            if h.standard == Standard.ERC20
            and h.balance > 0
            and h.holding_since is not None
            and (h.last_out_time is None or h.last_out_time < h.holding_since)
        ]
        return min((s for s in starts if s > now), default=None)
    return None


def _churn_due(node: ChurnCondition, facts: WalletFacts) -> int | None:
    """Mirrors shared.labels.churn_state: only active turns dormant by time; exited needs an event."""
    due: int | None = None
    last_active = facts.profile.last_active
    if facts.churn_state == "active" and node.state in ("active", "dormant") and last_active is not None:
        dormant_at = last_active + facts.label_settings.dormant_days * DAY
        due = dormant_at if dormant_at > facts.now else None
    if facts.churn_due is not None and facts.churn_due > facts.now:
        due = facts.churn_due if due is None else min(due, facts.churn_due)
    return due
