"""Taking an airdrop snapshot of a segment at a final block, and its exports (CSV, Merkle tree, proofs).

Membership is the segment's membership when the snapshot is taken: Kith keeps a segment's members
live, not their history. The amounts are the chain's at the pinned block: `balance` rules read
`balanceOf` with `eth_call` at that block, because Kith's holdings are balances now, not at every
past block. The block must be final (the chain's own confirmations or `finalized` tag, as ingestion
uses), so a reorg cannot change the amounts after the tree is published; a request for a later block
is refused (BlockNotFinal) rather than queued: the caller asks again once the block is final.
(docs/architecture.md, "Airdrops")
"""

from __future__ import annotations

import csv
import io
import secrets
import time
from dataclasses import dataclass

from shared.airdrops import merkle, onchain, store
from shared.airdrops.model import AirdropSnapshot, BalanceAtBlock, Distributor, FixedAmount, rule_hash
from shared.csvsafe import cell
from shared.events import Standard
from shared.segments.store import get_segment, members_page
from shared.settings import Settings, TrackedContract
from shared.tracking import track_contracts, tracked_chain

MEMBERS_PER_QUERY = 1000
CSV_COLUMNS = ["address", "amount"]


@dataclass(frozen=True)
class BlockNotFinal(Exception):
    block: int
    final: int
    head: int

    def __str__(self) -> str:
        return (
            f"block {self.block} is not final yet: the chain's head is {self.head} and its final block {self.final}; "
            f"ask again once the final block reaches {self.block}"
        )


class NothingToDrop(ValueError):
    """No member of the segment gets a positive amount."""


def segment_members(segment_id: str, settings: Settings) -> list[str]:
    addresses: list[str] = []
    after = None
    while True:
        page, after = members_page(segment_id, MEMBERS_PER_QUERY, after, settings)
        addresses.extend(str(m["address"]).lower() for m in page)
        if after is None:
            return sorted(set(addresses))


def take_snapshot(
    segment_id: str, chain_id: int, block: int, rule: FixedAmount | BalanceAtBlock, settings: Settings
) -> AirdropSnapshot:
    """Snapshot the segment's members with their amounts at `block`; raises BlockNotFinal before finality."""
    definition = get_segment(segment_id, settings)
    chain = tracked_chain(settings, chain_id)
    client = onchain.client_for(chain)
    try:
        settled = onchain.finality(chain, client)
        if block > settled.final:
            raise BlockNotFinal(block=block, final=settled.final, head=settled.head)
        pinned = onchain.header(client, block)
        members = segment_members(segment_id, settings)
        if isinstance(rule, FixedAmount):
            amounts = [int(rule.amount)] * len(members)
        else:
            amounts = [rule.amount_of(b) for b in onchain.balances_at(client, rule.token, members, block)]
    finally:
        client.close()
    rows = [(a, n) for a, n in zip(members, amounts, strict=True) if n > 0]
    if not rows:
        raise NothingToDrop(f"no member of segment {segment_id} gets a positive amount at block {block}")
    tree = merkle.build(rows)
    pages = store.paged(rows)
    snapshot = AirdropSnapshot(
        snapshot_id=secrets.token_hex(8),
        segment_id=segment_id,
        segment_version=definition.version,
        chain_id=chain_id,
        block=block,
        block_hash=pinned.hash,
        block_time=pinned.timestamp,
        final_block=settled.final,
        rule=rule,
        rule_hash=rule_hash(rule),
        recipients=len(rows),
        total=str(sum(n for _, n in rows)),
        merkle_root=tree.root,
        pages=len(pages),
        created_at=int(time.time()),
    )
    store.write_snapshot(snapshot, pages, settings)
    return snapshot


def tree_of(snapshot: AirdropSnapshot, settings: Settings) -> merkle.MerkleTree:
    tree = merkle.build(store.recipients(snapshot, settings))
    if tree.root != snapshot.merkle_root:
        raise RuntimeError(f"snapshot {snapshot.snapshot_id}'s recipients no longer give its root")
    return tree


def csv_page(snapshot: AirdropSnapshot, page: int, settings: Settings) -> str:
    """One stored page of (address, amount) rows as CSV, with its header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for address, amount in store.recipient_page(snapshot, page, settings).rows:
        writer.writerow([cell(address), cell(amount)])
    return out.getvalue()


class DistributorMismatch(ValueError):
    """The contract does not hold the snapshot's root."""


def link_distributor(snapshot: AirdropSnapshot, address: str, settings: Settings) -> Distributor:
    """Record the distributor that pays `snapshot` once its on-chain root is checked to be the snapshot's,
    and track it (merkle-distributor) from the snapshot's block, so its claims are ingested."""
    address = address.lower()
    chain = tracked_chain(settings, snapshot.chain_id)
    client = onchain.client_for(chain)
    try:
        root, token = onchain.distributor_state(client, address)
    finally:
        client.close()
    if root != snapshot.merkle_root:
        raise DistributorMismatch(f"{address} holds root {root}, not the snapshot's {snapshot.merkle_root}")
    distributor = Distributor(
        snapshot_id=snapshot.snapshot_id,
        chain_id=snapshot.chain_id,
        address=address,
        token=token,
        linked_at=int(time.time()),
    )
    store.link_distributor(distributor, settings)
    contract = TrackedContract(address=address, standard=Standard.MERKLE_DISTRIBUTOR, start_block=snapshot.block)
    track_contracts(settings, snapshot.chain_id, [contract])
    return distributor
