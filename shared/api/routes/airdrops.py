"""/airdrops: block-pinned snapshots of a segment, their CSV and Merkle exports, and their claims."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field

from shared import tracking
from shared.airdrops import claims, merkle, snapshot, store
from shared.airdrops.model import AirdropSnapshot, AmountRule, Distributor
from shared.api.caller import audit
from shared.api.cursor import decode_cursor, encode_cursor
from shared.api.errors import ApiError, Conflict, NotFound, Unprocessable
from shared.api.routes.wallets import valid_address
from shared.segments.store import SegmentNotFound
from shared.settings import get_settings

router = Router()


class BlockNotFinal(ApiError):
    status, code = 409, "block_not_final"


class SnapshotRequest(BaseModel):
    segment_id: str = Field(min_length=1, max_length=40)
    chain_id: int = Field(ge=1)
    block: int = Field(ge=0, description="the block the amounts are read at; it must be final")
    rule: AmountRule


class SnapshotList(BaseModel):
    items: list[AirdropSnapshot]


class MerkleRoot(BaseModel):
    snapshot_id: str
    merkle_root: str
    leaf_encoding: list[str]
    recipients: int


class Proof(BaseModel):
    snapshot_id: str
    merkle_root: str
    address: str
    amount: str
    proof: list[str]


class LinkRequest(BaseModel):
    address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="the distributor contract holding the root")


def _snapshot(snapshot_id: str) -> AirdropSnapshot:
    try:
        return store.get_snapshot(snapshot_id, get_settings())
    except store.SnapshotNotFound:
        raise NotFound(f"no airdrop snapshot {snapshot_id}", "snapshot_id") from None


@router.post(
    "/airdrops",
    summary="Snapshot a segment's members and amounts at a final block (409 block_not_final before)",
    tags=["airdrops"],
    status_code=201,
    openapi_extensions={"x-kith-errors": [404]},  # an unknown segment_id or an untracked chain_id
)
def create_snapshot(body: SnapshotRequest) -> AirdropSnapshot:
    settings = get_settings()
    try:
        taken = snapshot.take_snapshot(body.segment_id, body.chain_id, body.block, body.rule, settings)
    except SegmentNotFound:
        raise NotFound(f"no segment {body.segment_id}; GET /segments lists them", "segment_id") from None
    except tracking.ChainNotTracked as exc:
        raise NotFound(str(exc), "chain_id") from None
    except snapshot.BlockNotFinal as exc:
        raise BlockNotFinal(str(exc), "block") from None
    except snapshot.NothingToDrop as exc:
        raise Unprocessable(str(exc), "rule") from None
    audit("airdrop.snapshot", taken.snapshot_id, segment_id=taken.segment_id, block=taken.block)
    return taken


@router.get("/airdrops", summary="The snapshots of a segment, oldest first", tags=["airdrops"])
def list_snapshots(segment_id: Annotated[str, Query(min_length=1, max_length=40)]) -> SnapshotList:
    return SnapshotList(items=store.snapshots_of_segment(segment_id, get_settings()))


@router.get("/airdrops/<snapshot_id>", summary="A snapshot: its block, rule, rule hash and root", tags=["airdrops"])
def get_snapshot(snapshot_id: Annotated[str, Path(max_length=40)]) -> AirdropSnapshot:
    return _snapshot(snapshot_id)


@router.get(
    "/airdrops/<snapshot_id>/recipients.csv",
    summary="Recipients as CSV (address, amount), one stored page per call (follow X-Next-Cursor)",
    tags=["airdrops"],
    responses={200: {"description": "CSV: address,amount", "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def export_recipients(
    snapshot_id: Annotated[str, Path(max_length=40)],
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> Response[str]:
    taken = _snapshot(snapshot_id)
    page = int(decode_cursor(cursor).get("page", 0)) if cursor else 0
    if not 0 <= page < taken.pages:
        raise Unprocessable("the cursor is past the last page", "cursor")
    headers = {"Content-Disposition": f'attachment; filename="airdrop-{snapshot_id}-{page}.csv"'}
    if page + 1 < taken.pages:
        headers["X-Next-Cursor"] = encode_cursor({"page": page + 1})
    text = snapshot.csv_page(taken, page, get_settings())
    return Response(status_code=200, content_type="text/csv", body=text, headers=headers)


@router.get("/airdrops/<snapshot_id>/merkle", summary="The Merkle root of a snapshot", tags=["airdrops"])
def merkle_root(snapshot_id: Annotated[str, Path(max_length=40)]) -> MerkleRoot:
    taken = _snapshot(snapshot_id)
    return MerkleRoot(
        snapshot_id=snapshot_id,
        merkle_root=taken.merkle_root,
        leaf_encoding=list(merkle.LEAF_ENCODING),
        recipients=taken.recipients,
    )


@router.get(
    "/airdrops/<snapshot_id>/merkle/dump",
    summary="The whole tree as @openzeppelin/merkle-tree's StandardMerkleTree.load reads it (standard-v1)",
    tags=["airdrops"],
)
def merkle_dump(snapshot_id: Annotated[str, Path(max_length=40)]) -> dict[str, Any]:
    return snapshot.tree_of(_snapshot(snapshot_id), get_settings()).dump()


@router.get(
    "/airdrops/<snapshot_id>/proof/<address>", summary="The amount and Merkle proof of one address", tags=["airdrops"]
)
def proof_of(snapshot_id: Annotated[str, Path(max_length=40)], address: Annotated[str, Path(max_length=42)]) -> Proof:
    wanted = valid_address(address)
    taken = _snapshot(snapshot_id)
    tree = snapshot.tree_of(taken, get_settings())
    try:
        index = tree.index_of(wanted)
    except KeyError:
        raise NotFound(f"{wanted} is not a recipient of snapshot {snapshot_id}", "address") from None
    account, amount = tree.values[index]
    return Proof(
        snapshot_id=snapshot_id, merkle_root=tree.root, address=account, amount=str(amount), proof=tree.proof(index)
    )


@router.post(
    "/airdrops/<snapshot_id>/distributor",
    summary="Link the distributor that pays a snapshot (its root is checked on chain) and track its claims",
    tags=["airdrops"],
    status_code=201,
)
def link_distributor(snapshot_id: Annotated[str, Path(max_length=40)], body: LinkRequest) -> Distributor:
    taken = _snapshot(snapshot_id)
    try:
        linked = snapshot.link_distributor(taken, body.address, get_settings())
    except snapshot.DistributorMismatch as exc:
        raise Unprocessable(str(exc), "address") from None
    except store.AlreadyLinked as exc:
        raise Conflict(str(exc), "address") from None
    audit("airdrop.distributor", snapshot_id, distributor=linked.address)
    return linked


@router.get(
    "/airdrops/<snapshot_id>/claims",
    summary="Who claimed, and who claimed then sold the token within 7 days",
    tags=["airdrops"],
)
def snapshot_claims(snapshot_id: Annotated[str, Path(max_length=40)]) -> claims.ClaimsView:
    return claims.claims_view(_snapshot(snapshot_id), get_settings())
