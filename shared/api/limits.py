"""Per-key throttles, enforced by the API on every request.

API Gateway's usage plan caps the stage as a whole; one key must not spend everyone's share, nor run
the expensive routes in a loop. Each key has `units_per_minute` (KITH_API) per fixed one-minute
window, counted in one conditional UpdateItem on RATE#<key id> (A46): a request that would exceed
the budget is refused with 429 and Retry-After, and the counter never moves past the limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from shared.settings import Settings
from shared.store import dynamo, keys

WINDOW_S = 60
# (method, first path segment, what follows) -> units; everything else costs 1
ROUTE_COSTS: dict[tuple[str, str], int] = {
    ("POST", "segments/preview"): 30,  # evaluates wallets until its time budget ends
    ("GET", "segments"): 10,  # counts every segment's members
    ("GET", "overlap"): 20,  # reads two whole communities
    ("POST", "contacts/import"): 20,  # starts a background import
    ("GET", "contacts/export.csv"): 20,
    ("GET", "segments/members.csv"): 10,
    ("POST", "airdrops"): 20,  # a snapshot reads each member's balance at its block; a link reads the chain
}


@dataclass(frozen=True)
class Throttled(Exception):
    retry_after_s: int
    limit: int


def route_cost(method: str, path: str) -> int:
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts:
        return 1
    method = method.upper()
    candidates = ["/".join(parts), parts[0]]
    if parts[0] == "segments" and parts[-1] == "members.csv":
        candidates.insert(0, "segments/members.csv")
    if parts[0] == "segments" and len(parts) > 1 and parts[1] != "preview":
        candidates = [c for c in candidates if c != "segments"]  # one segment, not the list
    for candidate in candidates:
        cost = ROUTE_COSTS.get((method, candidate))
        if cost is not None:
            return cost
    return 1


def charge(key_id: str, units: int, settings: Settings, now: float | None = None) -> None:
    """Spend `units` of the key's budget for this window, or raise Throttled (nothing is spent then)."""
    limit = settings.api.units_per_minute
    moment = time.time() if now is None else now
    window = int(moment) - int(moment) % WINDOW_S
    if units > limit:
        raise Throttled(retry_after_s=WINDOW_S, limit=limit)
    try:
        dynamo.client("dynamodb").update_item(
            TableName=settings.app_table,
            Key=dynamo.to_item(keys.rate_key(key_id, window)),
            UpdateExpression="ADD used :units SET expires_at = :expires",
            ConditionExpression="attribute_not_exists(used) OR used <= :room",
            ExpressionAttributeValues={
                ":units": {"N": str(units)},
                ":room": {"N": str(limit - units)},
                ":expires": {"N": str(window + 2 * WINDOW_S)},
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        raise Throttled(retry_after_s=max(1, window + WINDOW_S - int(moment)), limit=limit) from None
