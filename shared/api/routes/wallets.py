"""/wallets: the community, ranked and profiled."""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from shared import wallets
from shared.api.cursor import decode_cursor, encode_cursor
from shared.api.errors import NotFound, Unprocessable
from shared.api.schemas import TimelinePage, WalletPage

router = Router()
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _address(value: str) -> str:
    if not ADDRESS.match(value):
        raise Unprocessable("must be a 0x-prefixed 20-byte hex address", "address")
    return value.lower()


@router.get("/wallets", summary="Wallets ranked by engagement score", tags=["wallets"])
def list_wallets(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> WalletPage:
    items, after = wallets.top_by_score(limit, decode_cursor(cursor) if cursor else None)
    return WalletPage(items=items, next_cursor=encode_cursor(after) if after else None)


@router.get("/wallets/<address>", summary="One wallet: profile, score explanation, holdings", tags=["wallets"])
def get_wallet(address: Annotated[str, Path(max_length=42)]) -> wallets.WalletView:
    view = wallets.wallet_view(_address(address))
    if view is None:
        raise NotFound(f"no activity seen for wallet {address.lower()} on the tracked contracts", "address")
    return view


@router.get("/wallets/<address>/timeline", summary="A wallet's events, newest first", tags=["wallets"])
def get_timeline(
    address: Annotated[str, Path(max_length=42)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> TimelinePage:
    items, after = wallets.timeline(_address(address), limit, decode_cursor(cursor) if cursor else None)
    return TimelinePage(items=items, next_cursor=encode_cursor(after) if after else None)
