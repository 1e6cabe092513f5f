"""Rule conditions over stakes: the `stake` condition, and holdings that include stakes (`include_staked`)."""

from __future__ import annotations

from shared.events import Standard
from shared.profiles.model import DAY, Holding, StakePosition
from shared.segments.facts import WalletFacts
from shared.segments.rules import HoldingCondition, StakeCondition


def holdings_for(node: HoldingCondition, facts: WalletFacts) -> list[Holding]:
    """The holdings a condition looks at. With include_staked, each token a stake declares as its
    underlying is one holding of what is held plus what is staked, held since the earliest current run
    of either (a wallet that moved its tokens into a stake has held them all along, in Kith's view)."""
    holdings = list(facts.holdings)
    if not node.include_staked:
        return holdings
    staked: dict[tuple[int, str], tuple[int, int | None]] = {}
    for key, position in facts.profile.staking.items():
        if position.underlying is None or not position.staked:
            continue
        token = (int(key.split(":", 1)[0]), position.underlying)
        amount, since = staked.get(token, (0, None))
        runs = [t for t in (since, position.staked_since) if t is not None]
        staked[token] = amount + position.staked_assets, min(runs, default=None)
    merged: list[Holding] = []
    for holding in holdings:
        amount, since = staked.pop((holding.chain_id, holding.contract), (0, None))
        if amount and holding.standard == Standard.ERC20:
            held_runs = [t for t in (since, holding.holding_since if holding.balance > 0 else None) if t is not None]
            holding = holding.model_copy(
                update={"balance": max(holding.balance, 0) + amount, "holding_since": min(held_runs, default=None)}
            )
        merged.append(holding)
    for (chain_id, contract), (amount, since) in staked.items():
        merged.append(
            Holding(chain_id=chain_id, contract=contract, standard=Standard.ERC20, balance=amount, holding_since=since)
        )
    return merged


def stakes_for(node: StakeCondition, facts: WalletFacts) -> list[tuple[int, str, StakePosition]]:
    found = []
    for key, position in facts.profile.staking.items():
        chain, contract = key.split(":", 1)
        if node.chain_id is not None and int(chain) != node.chain_id:
            continue
        if node.contract is not None and contract != node.contract:
            continue
        if node.underlying is not None and position.underlying != node.underlying:
            continue
        found.append((int(chain), contract, position))
    return found


def _stake_static(position: StakePosition, node: StakeCondition) -> bool:
    amount = position.staked_assets
    return (
        position.staked
        and (node.min_balance is None or amount >= node.min_balance)
        and (node.max_balance is None or amount <= node.max_balance)
    )


def _staked_from(position: StakePosition, days: int) -> int | None:
    return None if position.staked_since is None else position.staked_since + days * DAY


def stake_matches(found: tuple[int, str, StakePosition], node: StakeCondition, now: int) -> bool:
    position = found[2]
    if not _stake_static(position, node):
        return False
    if node.staked_days_gte is None:
        return True
    staked_from = _staked_from(position, node.staked_days_gte)
    return staked_from is not None and now >= staked_from


def stake_due(node: StakeCondition, facts: WalletFacts) -> int | None:
    # Once true it stays true until an event: stakes need events, and staked time only grows.
    days = node.staked_days_gte
    if days is None or any(stake_matches(found, node, facts.now) for found in stakes_for(node, facts)):
        return None
    starts = [
        staked_from
        for _, _, p in stakes_for(node, facts)
        if _stake_static(p, node) and (staked_from := _staked_from(p, days)) is not None and staked_from > facts.now
    ]
    return min(starts, default=None)
