"""The one serialisation of chain events to Events-table items and back.

The profiles function parses stream images with `event_from_item`, so this pair is the contract
between ingestion and every consumer. uint256 fields travel as decimal strings (a DynamoDB Number
holds 38 digits, a uint256 needs 78); small integers stay Numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import TypeAdapter

from shared.events import (
    AirdropClaim,
    ChainEvent,
    LendingEvent,
    NftSale,
    PriceUpdate,
    StakeEvent,
    TokenTransfer,
    VoteCast,
)
from shared.store.dynamo import from_item, to_item
from shared.store.keys import PK, SK, event_pk, event_sk

UINT256_FIELDS: Final = frozenset(
    {
        "amount",
        "token_id",
        "proposal_id",
        "weight",
        "liquidated_collateral",
        "liquidity_rate",
        "variable_borrow_rate",
        "price",
        "assets",
        "shares",
        "units",
        "seller_proceeds",
        "fee",
        "royalty",
    }
)
_KEY_ATTRIBUTES: Final = frozenset({PK, SK, "event_id"})
StoredEvent = TokenTransfer | VoteCast | LendingEvent | PriceUpdate | StakeEvent | AirdropClaim | NftSale
_adapter: TypeAdapter[StoredEvent] = TypeAdapter(ChainEvent)


def event_key(event: StoredEvent) -> dict[str, str]:
    return {
        PK: event_pk(event.chain_id, event.block_number),
        SK: event_sk(event.log_index, event.sub_index, event.tx_hash),
    }


def event_values(event: StoredEvent) -> dict[str, Any]:
    """Plain attribute values (no DynamoDB typing): keys, `kind`, `event_id` and every model field."""
    values: dict[str, Any] = event.model_dump(mode="python")
    for name in UINT256_FIELDS.intersection(values):
        if values[name] is not None:
            values[name] = str(values[name])
    values["standard"] = str(event.standard)
    values.update(event_key(event))
    values["event_id"] = event.event_id
    return values


def event_to_item(event: StoredEvent) -> dict[str, Any]:
    """DynamoDB typed item ({"S": ...}/{"N": ...}) for BatchWriteItem/PutItem."""
    return to_item(event_values(event))


def event_from_item(item: Mapping[str, Any]) -> StoredEvent:
    """Parse an Events-table item: typed (a stream image, a low-level GetItem) or plain (resource API).

    Decimal numbers from boto3's deserialiser are accepted too.
    """
    values = from_item(item) if _is_typed(item) else dict(item)
    fields = {k: v for k, v in values.items() if k not in _KEY_ATTRIBUTES}
    for name, value in list(fields.items()):
        if name in UINT256_FIELDS and isinstance(value, str):
            fields[name] = int(value)
        elif not isinstance(value, bool) and hasattr(value, "to_integral_value"):
            fields[name] = int(value) if value == value.to_integral_value() else float(value)
    return _adapter.validate_python(fields)


def _is_typed(item: Mapping[str, Any]) -> bool:
    probe = item.get(PK, item.get("kind"))
    return isinstance(probe, dict) and len(probe) == 1 and next(iter(probe)) in {"S", "N", "B"}
