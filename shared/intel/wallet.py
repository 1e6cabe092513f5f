"""Reading one wallet's partition (profile, holdings, tags, contacts, state, lending records), and the
wallets whose due date has come."""

from __future__ import annotations

import time

from shared.intel.codecs import WALLET_STATE_CODEC
from shared.intel.lending_records import LendingRecords
from shared.intel.models import WalletInputs, WalletState
from shared.profiles.items import HOLDING_CODEC, PROFILE_CODEC
from shared.profiles.model import Holding, WalletProfile
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.paging import query_all, query_pages
from shared.store.transact import version_of


def load_wallet(address: str, settings: Settings) -> WalletInputs | None:
    """Profile, holdings, tags and state in one Query (the timeline lives in its own partition)."""
    profile: WalletProfile | None = None
    holdings: list[Holding] = []
    tags: set[str] = set()
    contact_ids: list[str] = []
    state: WalletState | None = None
    state_version = 0
    lending = LendingRecords()
    for raw in query_all(
        settings.app_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=dynamo.to_item({":pk": keys.wallet_pk(address)}),
        ConsistentRead=True,
    ):
        sk = dynamo.from_item(raw)[keys.SK]
        kind = keys.wallet_item_kind(sk)
        if kind == "profile":
            profile = PROFILE_CODEC.decode(raw)
        elif kind == "holding":
            holdings.append(HOLDING_CODEC.decode(raw))
        elif kind == "tag":
            tags.add(keys.tag_of(sk))
        elif kind == "contact":
            contact_ids.append(keys.contact_of(sk))
        elif kind == "state":
            state = WALLET_STATE_CODEC.decode(raw)
            state_version = version_of(raw)
        else:
            lending.absorb(sk, raw)
    if profile is None:
        return None
    return WalletInputs(profile, holdings, tags, state, state_version, contact_ids, lending)


def due_wallets(now: int, settings: Settings, limit: int = 1000) -> list[str]:
    """Wallets whose due date has come, from the due index only (never a scan of all wallets)."""
    found: list[str] = []
    for shard in range(keys.DUE_SHARDS):
        if len(found) >= limit:
            break
        pages = query_pages(
            settings.app_table,
            IndexName=keys.GSI3,
            KeyConditionExpression="gsi3pk = :p AND gsi3sk <= :now",
            ExpressionAttributeValues=dynamo.to_item(
                {":p": keys.due_partition(shard), ":now": keys.due_upper_bound(now)}
            ),
        )
        for page in pages:
            found += [keys.wallet_of(dynamo.from_item(i)[keys.PK]) for i in page]
            if len(found) >= limit:
                break
    return found[:limit]


def evaluated_at(inputs: WalletInputs) -> int:
    """When the stored state was derived (so a reference evaluation can use the same instant)."""
    return inputs.state.evaluated_at if inputs.state is not None else int(time.time())
