"""/wallets: the community, ranked, filtered, profiled and tagged."""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field

from shared import tags, wallets
from shared.api.caller import audit
from shared.api.cursor import decode_cursor, encode_cursor
from shared.api.errors import NotFound, Unprocessable
from shared.api.routes.contacts import masked_contacts
from shared.api.schemas import TimelinePage, WalletPage
from shared.segments.rules import ChurnState, LabelName
from shared.settings import get_settings

router = Router()
TAG_PATTERN = tags.TAG.pattern
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
TOKEN = re.compile(r"^[0-9]{1,12}:0x[0-9a-fA-F]{40}$")


def valid_address(value: str, field: str = "address") -> str:
    if not ADDRESS.match(value):
        raise Unprocessable("must be a 0x-prefixed 20-byte hex address", field)
    return value.lower()


def valid_token(value: str, field: str) -> tuple[int, str]:
    if not TOKEN.match(value):
        raise Unprocessable("a token is <chain id>:<contract address>, e.g. 31337:0x5fbd...", field)
    chain, contract = value.split(":")
    return int(chain), contract.lower()


class TagsBody(BaseModel):
    tags: list[Annotated[str, Field(pattern=TAG_PATTERN)]] = Field(min_length=1, max_length=20)


class WalletTags(BaseModel):
    address: str
    tags: list[str]


@router.get("/wallets", summary="Wallets, by engagement score or token balance, filtered", tags=["wallets"])
def list_wallets(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
    sort: Annotated[wallets.WalletSort, Query(description="score (default) or balance (needs token)")] = "score",
    min_score: Annotated[float | None, Query(ge=0)] = None,
    max_score: Annotated[float | None, Query(ge=0)] = None,
    label: Annotated[LabelName | None, Query()] = None,
    churn_state: Annotated[ChurnState | None, Query()] = None,
    chain: Annotated[int | None, Query(ge=1, le=10**12)] = None,
    token: Annotated[str | None, Query(max_length=60, description="<chain id>:<contract>")] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
) -> WalletPage:
    """A selective filter may return a short page with a `next_cursor`: keep paging until it is null."""
    if sort == "balance" and not token:  # token= (empty) is no token either
        raise Unprocessable("sort=balance ranks the holders of one token: give token=<chain id>:<contract>", "token")
    filters = wallets.WalletFilter(
        min_score=min_score,
        max_score=max_score,
        label=label,
        churn_state=churn_state,
        chain_id=chain,
        token=valid_token(token, "token") if token else None,
        tag=tag,
    )
    items, after = wallets.search_wallets(
        filters, sort, limit, decode_cursor(cursor) if cursor else None, get_settings()
    )
    return WalletPage(items=items, next_cursor=encode_cursor(after) if after else None)


@router.get("/wallets/<address>", summary="One wallet: profile, score explanation, holdings, contact", tags=["wallets"])
def get_wallet(address: Annotated[str, Path(max_length=42)]) -> wallets.WalletView:
    view = wallets.wallet_view(valid_address(address), get_settings())
    if view is None:
        raise NotFound(f"no activity seen for wallet {address.lower()} on the tracked contracts", "address")
    return view.model_copy(update={"contacts": masked_contacts(view.contacts)})


@router.get("/wallets/<address>/timeline", summary="A wallet's events, newest first", tags=["wallets"])
def get_timeline(
    address: Annotated[str, Path(max_length=42)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> TimelinePage:
    items, after = wallets.timeline(
        valid_address(address), limit, decode_cursor(cursor) if cursor else None, get_settings()
    )
    return TimelinePage(items=items, next_cursor=encode_cursor(after) if after else None)


@router.post("/wallets/<address>/tags", summary="Tag a wallet (idempotent)", tags=["wallets"])
def add_tags(address: Annotated[str, Path(max_length=42)], body: TagsBody) -> WalletTags:
    wallet = valid_address(address)
    try:
        tagged = WalletTags(address=wallet, tags=tags.add_tags(wallet, body.tags, get_settings()))
    except tags.TagError as exc:
        raise Unprocessable(str(exc), "tags") from None
    audit("wallet.tagged", wallet, tags=body.tags)
    return tagged


@router.delete("/wallets/<address>/tags/<tag>", summary="Remove a tag from a wallet", tags=["wallets"])
def remove_tag(address: Annotated[str, Path(max_length=42)], tag: Annotated[str, Path(max_length=64)]) -> WalletTags:
    wallet = valid_address(address)
    if not tags.remove_tag(wallet, tag, get_settings()):
        raise NotFound(f"wallet {wallet} has no tag {tag!r}", "tag")
    audit("wallet.untagged", wallet, tag=tag)
    return WalletTags(address=wallet, tags=tags.wallet_tags(wallet, get_settings()))
