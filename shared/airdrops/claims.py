"""Claims on tracked Merkle distributors, and the airdrop view built from them.

The airdrops function reads the Events stream (merkle-distributor events only) and keeps one item per
claim event, `CLAIM#<chain>#<distributor>` / `<account>#<event id>` (AD5): an INSERT puts it, a REMOVE
(a reorg's rollback) deletes exactly it. Put and delete of one event's own item commute with every other
event's, so redelivery and any order of apply and rollback across stream shards end with exactly the
claims of the canonical chain, without markers (docs/architecture.md, "Airdrops").

"Claimed then sold" reads the claimant's timeline, which the profiles function keeps: an outgoing
transfer of the distributor's token by the claimant after the claim and within SOLD_WINDOW_S of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from shared.airdrops import store
from shared.airdrops.model import AirdropSnapshot
from shared.chain.codec import event_from_item
from shared.events import AirdropClaim
from shared.profiles.items import iter_activities
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.codec import DocCodec
from shared.store.paging import query_all

SOLD_WINDOW_S = 7 * 86_400

Image = Mapping[str, Any] | None


class Claim(BaseModel):
    event_id: str
    chain_id: int
    distributor: str
    account: str
    amount: str
    block_number: int
    log_index: int
    block_time: int
    tx_hash: str


CLAIM_CODEC = DocCodec(Claim)


@dataclass
class Applied:
    inserted: int = 0
    removed: int = 0
    skipped: int = 0


def _claim_of(event: AirdropClaim) -> Claim:
    return Claim(
        event_id=event.event_id,
        chain_id=event.chain_id,
        distributor=event.contract,
        account=event.account,
        amount=str(event.amount),
        block_number=event.block_number,
        log_index=event.log_index,
        block_time=event.block_time,
        tx_hash=event.tx_hash,
    )


def _claim_key(event: AirdropClaim) -> dict[str, str]:
    key = keys.claim_key(event.chain_id, event.contract, event.account)
    return {**key, keys.SK: f"{key[keys.SK]}#{event.event_id}"}


def apply_images(images: Iterable[tuple[Image, Image]], settings: Settings) -> Applied:
    """Each stream record's claim: put on INSERT, deleted on REMOVE; other events are skipped."""
    applied = Applied()
    puts: dict[tuple[str, str], dict[str, Any]] = {}
    deletes: dict[tuple[str, str], dict[str, Any]] = {}
    for old_image, new_image in images:
        old = event_from_item(dynamo.from_item(old_image)) if old_image else None
        new = event_from_item(dynamo.from_item(new_image)) if new_image else None
        if isinstance(new, AirdropClaim):
            key = _claim_key(new)
            ident = (key[keys.PK], key[keys.SK])
            deletes.pop(ident, None)
            puts[ident] = CLAIM_CODEC.encode(key, _claim_of(new))
            applied.inserted += 1
        elif new is None and isinstance(old, AirdropClaim):
            key = _claim_key(old)
            ident = (key[keys.PK], key[keys.SK])
            puts.pop(ident, None)
            deletes[ident] = dynamo.to_item(key)
            applied.removed += 1
        else:
            applied.skipped += 1
    if puts or deletes:
        dynamo.batch_write(settings.app_table, puts=puts.values(), deletes=deletes.values())
    return applied


def claims_on(chain_id: int, distributor: str, settings: Settings) -> dict[str, Claim]:
    """The first claim of each account on a distributor (a distributor pays an account once)."""
    found = query_all(
        settings.app_table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.claims_partition(chain_id, distributor)}},
    )
    first: dict[str, Claim] = {}
    for item in found:
        claim = CLAIM_CODEC.decode(item)
        held = first.get(claim.account)
        if held is None or (claim.block_number, claim.log_index) < (held.block_number, held.log_index):
            first[claim.account] = claim
    return first


def sold_within_window(claim: Claim, token: str, settings: Settings) -> bool:
    """Did the claimant send the token anywhere after the claim and within SOLD_WINDOW_S of it?"""
    end = claim.block_time + SOLD_WINDOW_S
    after = (claim.block_number, claim.log_index)
    for activity in iter_activities(settings.app_table, claim.account, since=claim.block_time):
        if activity.block_time > end:
            return False
        if (
            activity.direction == "out"
            and activity.chain_id == claim.chain_id
            and activity.contract == token
            and (activity.block_number, activity.log_index) > after
        ):
            return True
    return False


class RecipientClaim(BaseModel):
    address: str
    amount: str
    claimed_at: int
    claim_tx: str
    sold_within_7_days: bool


class ClaimsView(BaseModel):
    snapshot_id: str
    distributor: str | None
    token: str | None
    recipients: int
    claimed: int
    claimed_then_sold: int
    claims: list[RecipientClaim]


def claims_view(snapshot: AirdropSnapshot, settings: Settings) -> ClaimsView:
    """Who of the snapshot's recipients claimed, and who of them sold within 7 days."""
    distributor = store.distributor_of(snapshot.snapshot_id, settings)
    if distributor is None:
        return ClaimsView(
            snapshot_id=snapshot.snapshot_id,
            distributor=None,
            token=None,
            recipients=snapshot.recipients,
            claimed=0,
            claimed_then_sold=0,
            claims=[],
        )
    recipients = dict(store.recipients(snapshot, settings))
    claims = claims_on(distributor.chain_id, distributor.address, settings)
    rows = [
        RecipientClaim(
            address=account,
            amount=claim.amount,
            claimed_at=claim.block_time,
            claim_tx=claim.tx_hash,
            sold_within_7_days=sold_within_window(claim, distributor.token, settings),
        )
        for account, claim in sorted(claims.items())
        if account in recipients
    ]
    return ClaimsView(
        snapshot_id=snapshot.snapshot_id,
        distributor=distributor.address,
        token=distributor.token,
        recipients=snapshot.recipients,
        claimed=len(rows),
        claimed_then_sold=sum(r.sold_within_7_days for r in rows),
        claims=rows,
    )
