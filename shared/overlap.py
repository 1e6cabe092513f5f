"""Community overlap: which wallets two segments, or the holders of two tokens, have in common.

Each side is read from its own partition (a segment's members, or a token's positive-balance holders
from the holders index), so the cost follows the two communities' sizes, never the whole table. A
side larger than MAX_SIDE_WALLETS is refused once that many are read, so one request costs at most
about 2 * MAX_SIDE_WALLETS keys read (some 30 Query pages) and answers well inside API Gateway's 29 s.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from pydantic import BaseModel, Field

from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.paging import query_items

MAX_SIDE_WALLETS = 100_000


class SideTooLarge(Exception):
    """One side has more wallets than one request may read."""

    def __init__(self, side: str, limit: int) -> None:
        super().__init__(
            f"{side} has more than {limit:,} wallets, more than one request compares; export both sides "
            f"(GET /segments/{{id}}/members.csv) and compare them offline"
        )
        self.side = side


def _bounded(wallets: Iterable[str], side: str) -> list[str]:
    read = list(islice(wallets, MAX_SIDE_WALLETS + 1))
    if len(read) > MAX_SIDE_WALLETS:
        raise SideTooLarge(side, MAX_SIDE_WALLETS)
    return read


class Overlap(BaseModel):
    a: str
    b: str
    a_size: int
    b_size: int
    both: int = Field(description="wallets in both")
    wallets: list[str] = Field(description="the shared wallets, sorted (at most `limit`)")
    jaccard: float = Field(description="both / (a + b - both)")


def segment_members(segment_id: str, settings: Settings) -> Iterator[str]:
    items = query_items(
        settings.app_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
        ExpressionAttributeValues=dynamo.to_item({":pk": keys.segment_pk(segment_id), ":m": keys.MEMBER_PREFIX}),
        ProjectionExpression="sk",
    )
    yield from (keys.member_of(item["sk"]) for item in items)


def token_holders(chain_id: int, contract: str, settings: Settings) -> Iterator[str]:
    """Wallets with a positive balance of the token (the index keeps balances zero-padded)."""
    items = query_items(
        settings.app_table,
        IndexName=keys.GSI2,
        KeyConditionExpression="gsi2pk = :p AND gsi2sk >= :one",
        ExpressionAttributeValues=dynamo.to_item(
            {
                ":p": keys.holders_partition(chain_id, contract),
                ":one": keys.holders_gsi(chain_id, contract, 1)["gsi2sk"],
            }
        ),
        ProjectionExpression="address",
    )
    yield from (str(item["address"]) for item in items)


def segment_overlap(a: str, b: str, limit: int, settings: Settings) -> Overlap:
    members_a = _bounded(segment_members(a, settings), "segment_a")
    members_b = _bounded(segment_members(b, settings), "segment_b")
    shared = sorted(set(members_a) & set(members_b))
    return _result(a, b, len(members_a), len(members_b), shared, limit)


def token_overlap(a: tuple[int, str], b: tuple[int, str], limit: int, settings: Settings) -> Overlap:
    holders_a = _bounded(token_holders(*a, settings), "token_a")
    holders_b = _bounded(token_holders(*b, settings), "token_b")
    shared = sorted(set(holders_a) & set(holders_b))
    return _result(f"{a[0]}:{a[1]}", f"{b[0]}:{b[1]}", len(holders_a), len(holders_b), shared, limit)


def _result(a: str, b: str, a_size: int, b_size: int, shared: list[str], limit: int) -> Overlap:
    union = a_size + b_size - len(shared)
    return Overlap(
        a=a,
        b=b,
        a_size=a_size,
        b_size=b_size,
        both=len(shared),
        wallets=shared[:limit],
        jaccard=round(len(shared) / union, 6) if union else 0.0,
    )
