"""Reading one wallet's partition (profile, holdings, tags, contacts, state, lending records), and the
wallets whose due date has come."""

from __future__ import annotations

import time
from typing import Any

from shared.intel.lending_records import LendingRecords
from shared.intel.models import WalletInputs, WalletState
from shared.profiles.model import Holding, WalletProfile
from shared.settings import Settings
from shared.store import dynamo, keys


def load_wallet(address: str, settings: Settings) -> WalletInputs | None:
    """Profile, holdings, tags and state in one Query (the timeline lives in its own partition)."""
    db = dynamo.client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": settings.app_table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": keys.wallet_pk(address)}},
        "ConsistentRead": True,
    }
    profile: WalletProfile | None = None
    holdings: list[Holding] = []
    tags: set[str] = set()
    contact_ids: list[str] = []
    state: WalletState | None = None
    state_version = 0
    lending = LendingRecords()
    while True:
        response = db.query(**kwargs)
        for raw in response["Items"]:
            sk = raw["sk"]["S"]
            if sk == "PROFILE":
                profile = WalletProfile.model_validate_json(raw["doc"]["S"])
            elif sk.startswith(keys.HOLDING_PREFIX):
                holdings.append(Holding.model_validate_json(raw["doc"]["S"]))
            elif sk.startswith(keys.TAG_PREFIX):
                tags.add(sk.removeprefix(keys.TAG_PREFIX))
            elif sk.startswith(keys.CONTACT_PREFIX):
                contact_ids.append(sk.removeprefix(keys.CONTACT_PREFIX))
            elif sk == "STATE":
                state = WalletState.model_validate_json(raw["doc"]["S"])
                state_version = int(raw["v"]["N"])
            else:
                lending.absorb(sk, raw)
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    if profile is None:
        return None
    return WalletInputs(profile, holdings, tags, state, state_version, contact_ids, lending)


def due_wallets(now: int, settings: Settings, limit: int = 1000) -> list[str]:
    """Wallets whose due date has come, from the due index only (never a scan of all wallets)."""
    db = dynamo.client("dynamodb")
    found: list[str] = []
    for shard in range(keys.DUE_SHARDS):
        kwargs: dict[str, Any] = {
            "TableName": settings.app_table,
            "IndexName": keys.GSI3,
            "KeyConditionExpression": "gsi3pk = :p AND gsi3sk <= :now",
            "ExpressionAttributeValues": {
                ":p": {"S": keys.due_partition(shard)},
                ":now": {"S": keys.due_upper_bound(now)},
            },
        }
        while len(found) < limit:
            response = db.query(**kwargs)
            found += [i["pk"]["S"].removeprefix("WALLET#") for i in response["Items"]]
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return found[:limit]


def evaluated_at(inputs: WalletInputs) -> int:
    """When the stored state was derived (so a reference evaluation can use the same instant)."""
    return inputs.state.evaluated_at if inputs.state is not None else int(time.time())
