"""Labels that depend on the population of holders, not the wallet alone: the whale cut-offs."""

from __future__ import annotations

import math
from collections.abc import Iterable

from shared.events import Standard
from shared.intel.models import Context
from shared.profiles.model import Holding
from shared.profiles.store import holder_count, token_supply
from shared.store import dynamo, keys
from shared.store.paging import query_page


def population_labels(holdings: Iterable[Holding], context: Context) -> set[str]:
    """Whale: in the top share of a token's holders by balance (at least the single largest), or holding
    at least the configured share of its supply."""
    share = context.settings.labels.whale_supply_share
    for holding in holdings:
        if holding.standard != Standard.ERC20 or holding.balance <= 0:
            continue
        floor = _whale_floor(holding.chain_id, holding.contract, context)
        if floor is not None and holding.balance >= floor:
            return {"whale"}
        supply = _supply(holding.chain_id, holding.contract, context)
        if supply > 0 and holding.balance >= share * supply:
            return {"whale"}
    return set()


def _supply(chain_id: int, contract: str, context: Context) -> float:
    cache_key = (chain_id, contract)
    if cache_key not in context.supply:
        context.supply[cache_key] = token_supply(chain_id, contract, context.settings)
    return context.supply[cache_key]


def _whale_floor(chain_id: int, contract: str, context: Context) -> int | None:
    cache_key = (chain_id, contract)
    if cache_key not in context.whale_floor:
        holders = holder_count(chain_id, contract, context.settings)
        top = max(1, math.ceil(holders * context.settings.labels.whale_top_fraction))
        page = query_page(
            context.settings.app_table,
            limit=top,
            IndexName=keys.GSI2,
            KeyConditionExpression="gsi2pk = :p",
            ExpressionAttributeValues=dynamo.to_item({":p": keys.holders_partition(chain_id, contract)}),
            ScanIndexForward=False,
            ProjectionExpression="gsi2sk",
        )
        balances = [int(dynamo.from_item(i)["gsi2sk"]) for i in page.items]
        context.whale_floor[cache_key] = balances[-1] if balances and balances[-1] > 0 else 0
    floor = context.whale_floor[cache_key]
    return floor or None
