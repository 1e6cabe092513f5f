"""The health function's work for one Events-table stream batch (lending-pool and oracle events only).

1. positions  each pool event is applied to its wallet's position exactly once (a REMOVE record, the
              rollback of a reorg, takes it back), which keeps the exposure index right
2. rates      ReserveDataUpdated stores the reserve's rates for refinancing hints
3. who        a position event asks for its wallet at its block; a price update asks for every wallet
              the exposure index lists for that (chain, asset) at the update's block; a rollback asks
              for its wallet (or the asset's wallets) at the chain's head
4. evaluate   getUserAccountData in JSON-RPC batches; records written in block order; alerts published

Wallets whose band or position moved are re-derived (labels, tier, segments) by the segments function,
which the App table's stream hands the LENDPOS# and HEALTH# writes (docs/architecture.md, "Flows").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.chain.codec import StoredEvent, event_from_item
from shared.chain.endpoints import resolve_rpc_url
from shared.chain.metadata import MetadataReader
from shared.events import LendingEvent, PriceUpdate
from shared.lending import health, store
from shared.lending.model import position_changing
from shared.lending.refinance import asset_name
from shared.settings import Settings
from shared.store import dynamo
from shared.tracking import CHAIN_CACHE_S, tracked_chain

logger = logging.getLogger("kith.lending")

Image = Mapping[str, Any] | None


@dataclass
class BatchOutcome:
    records: int = 0
    positions_applied: int = 0
    rates_stored: int = 0
    price_updates: int = 0
    evaluations: int = 0
    recorded: health.Recorded = field(default_factory=health.Recorded)


def change_of(old_image: Image, new_image: Image) -> tuple[StoredEvent | None, StoredEvent | None]:
    old = event_from_item(dynamo.from_item(old_image)) if old_image else None
    new = event_from_item(dynamo.from_item(new_image)) if new_image else None
    return old, new


def process_images(images: Iterable[tuple[Image, Image]], settings: Settings) -> BatchOutcome:
    return process_changes([change_of(old, new) for old, new in images], settings)


def process_changes(
    changes: list[tuple[StoredEvent | None, StoredEvent | None]],
    settings: Settings,
) -> BatchOutcome:
    outcome = BatchOutcome(records=len(changes))
    at_block: dict[health.Request, None] = {}
    at_head: set[tuple[int, str, str]] = set()  # (chain, pool, wallet)
    prices: list[PriceUpdate] = []
    rolled_back_prices: set[tuple[int, str]] = set()
    # wallets whose exposure to an asset changed in this batch: the index now shows only the end of the
    # batch, but a price update earlier in it may have caught them while they were still exposed
    touched: dict[tuple[int, str], set[tuple[str, str]]] = {}
    for old, new in changes:
        if old is not None and new is not None and old == new:
            continue  # an identical re-put (moto emits MODIFY for it; DynamoDB emits nothing)
        for event, sign in ((old, -1), (new, +1)):
            if isinstance(event, LendingEvent) and position_changing(event):
                applied = store.apply_position_event(event, sign, settings)
                if applied is not None:
                    outcome.positions_applied += 1
                    for asset in applied.exposed_before | applied.exposed_after:
                        touched.setdefault((event.chain_id, asset), set()).add((event.contract, event.user))
                if sign > 0:
                    at_block[_request(event.chain_id, event.contract, event.user, event)] = None
                else:
                    at_head.add((event.chain_id, event.contract, event.user))
            elif isinstance(event, LendingEvent) and sign > 0:
                symbol = _symbol(event.chain_id, event.reserve, settings)
                name = asset_name(event.chain_id, event.reserve, symbol, settings.lending)
                outcome.rates_stored += store.store_rate(event, name, settings)
            elif isinstance(event, PriceUpdate) and sign > 0:
                prices.append(event)
            elif isinstance(event, PriceUpdate):
                rolled_back_prices.add((event.chain_id, event.asset))
    outcome.price_updates = len(prices)
    exposure: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for price in prices:
        where = (price.chain_id, price.asset)
        if where not in exposure:
            found = store.exposed_wallets(price.chain_id, price.asset, settings)
            exposure[where] = sorted(set(found) | touched.get(where, set()))
        for pool, wallet in exposure[where]:
            at_block[_request(price.chain_id, pool, wallet, price)] = None
    for chain_id, asset in rolled_back_prices:
        at_head.update((chain_id, pool, wallet) for pool, wallet in store.exposed_wallets(chain_id, asset, settings))
    requests = list(at_block)
    heads: dict[int, tuple[int, int]] = {}
    for chain_id, pool, wallet in sorted(at_head):
        if chain_id not in heads:
            heads[chain_id] = health.head(chain_id, settings)
        block, block_time = heads[chain_id]
        requests.append(health.Request(block, chain_id, pool, wallet, block_time))
    requests = list(dict.fromkeys(requests))
    outcome.evaluations = len(requests)
    outcome.recorded = health.record(health.read_accounts(requests, settings), settings)
    return outcome


def _symbol(chain_id: int, asset: str, settings: Settings) -> str | None:
    """The reserve's symbol: ingestion's metadata cache (A2), else read from the chain once and cached."""
    url = resolve_rpc_url(tracked_chain(settings, chain_id, max_age_s=CHAIN_CACHE_S))
    return MetadataReader(url, chain_id, settings.app_table).get(asset).symbol


def _request(chain_id: int, pool: str, wallet: str, event: LendingEvent | PriceUpdate) -> health.Request:
    return health.Request(event.block_number, chain_id, pool, wallet, event.block_time)
