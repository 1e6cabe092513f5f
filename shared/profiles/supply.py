"""Per-token holder counts and exact supply (the TOKENSTATS item), for the whale label.

Written with ADD inside each profile transaction (see shared.profiles.store), read by intel.
"""

from __future__ import annotations

from typing import Any

from shared.events import ZERO_ADDRESS, ChainEvent, Standard, TokenTransfer
from shared.settings import Settings
from shared.store import dynamo, keys

# A DynamoDB number holds 38 significant digits and a uint256 needs 78, and ADD rounds a running sum
# to 38 digits, so a rounded supply drifts when mints and their rollbacks interleave. The supply is
# therefore kept exactly, as three base-10^26 limbs: each ADD stays far below 38 digits, and the sum
# of the limbs is the exact integer.
SUPPLY_LIMB = 10**26
SUPPLY_LIMBS = ("supply_0", "supply_1", "supply_2")


def supply_limbs(value: int) -> list[int]:
    sign, magnitude = (-1 if value < 0 else 1), abs(value)
    limbs = []
    for _ in SUPPLY_LIMBS:
        magnitude, limb = divmod(magnitude, SUPPLY_LIMB)
        limbs.append(sign * limb)
    if magnitude:
        raise ValueError("supply delta exceeds 2^256")
    return limbs


def supply_from_limbs(limbs: list[int]) -> int:
    return sum(limb * SUPPLY_LIMB**i for i, limb in enumerate(limbs))


def holder_count_update(table: str, chain_id: int, contract: str, delta: int, minted: int = 0) -> dict[str, Any]:
    """Holders and exact supply per token, for the whale label (top 1% of holders, or a share of supply).
    ADD commutes, so no version check is needed."""
    values = {":d": {"N": str(delta)}}
    additions = ["holders :d"]
    for name, limb in zip(SUPPLY_LIMBS, supply_limbs(minted), strict=True):
        values[f":{name}"] = {"N": str(limb)}
        additions.append(f"{name} :{name}")
    return {
        "Update": {
            "TableName": table,
            "Key": dynamo.to_item(keys.token_stats_key(chain_id, contract)),
            "UpdateExpression": "ADD " + ", ".join(additions),
            "ExpressionAttributeValues": values,
        }
    }


def minted_by(event: ChainEvent) -> int:
    """What an event adds to its token's supply: a mint adds, a burn takes away."""
    if not isinstance(event, TokenTransfer) or event.standard != Standard.ERC20:
        return 0
    if event.from_address == ZERO_ADDRESS:
        return event.amount
    if event.to_address == ZERO_ADDRESS:
        return -event.amount
    return 0


def token_supply(chain_id: int, contract: str, settings: Settings) -> float:
    stats = _token_stats(chain_id, contract, settings)
    return float(supply_from_limbs([int(stats.get(name, 0)) for name in SUPPLY_LIMBS]))


def holder_count(chain_id: int, contract: str, settings: Settings) -> int:
    return int(_token_stats(chain_id, contract, settings).get("holders", 0))


def _token_stats(chain_id: int, contract: str, settings: Settings) -> dict[str, Any]:
    response = dynamo.client("dynamodb").get_item(
        TableName=settings.app_table, Key=dynamo.to_item(keys.token_stats_key(chain_id, contract))
    )
    return dynamo.from_item(response.get("Item", {}))
