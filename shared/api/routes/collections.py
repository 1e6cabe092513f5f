"""/collections: an NFT collection's market, read from the rollups profiles keep per collection
(docs/architecture.md, "NFT markets"): a Query over the asked days and one GetItem, whatever the
number of holders."""

from __future__ import annotations

import time
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field

from shared.api.routes.wallets import valid_address
from shared.profiles.collections import collection_days, collection_stats, floor_prices
from shared.profiles.model import DAY
from shared.settings import get_settings

router = Router()

Amount = Annotated[str, Field(pattern=r"^-?[0-9]{1,78}$", description="a uint256 in base units, as a decimal string")]


class MarketDay(BaseModel):
    day: int = Field(description="unix day (unix seconds // 86400, UTC)")
    mints: int = Field(description="units minted that day")
    sales: dict[str, int] = Field(description="sales per currency (the zero address is the native coin)")
    volume: dict[str, Amount] = Field(description="sum of sale prices per currency")


class CollectionMarket(BaseModel):
    chain_id: int
    collection: str
    first_day: int = Field(description="the window's first unix day")
    last_day: int = Field(description="the window's last unix day (today)")
    days: list[MarketDay] = Field(description="the window's days with any mint or sale, oldest first")
    floor: dict[str, Amount] = Field(description="the lowest sale price per currency over the window")
    holders: int = Field(description="wallets holding at least one unit now")
    holders_by_size: dict[str, int] = Field(description='holders by units held: "1", "2-5", "6-20", "over 20"')
    median_held_days: float | None = Field(
        description="median whole days a sold unit was held since its seller bought or minted it, over all time"
    )
    flipper_holders: int = Field(description="holders who sold a unit of it within flipper_days of acquiring it")
    flipper_share: float | None = Field(description="flipper_holders / holders; null without holders")


@router.get(
    "/collections/<chain_id>/<address>/market",
    summary="An NFT collection's mints, sales, volume, floor, holders by size, hold times and flippers",
    tags=["collections"],
)
def collection_market(
    chain_id: Annotated[int, Path(ge=1)],
    address: Annotated[str, Path(max_length=42)],
    days: Annotated[int, Query(ge=1, le=365, description="the window, in days up to today")] = 30,
) -> CollectionMarket:
    collection = valid_address(address)
    settings = get_settings()
    last_day = int(time.time()) // DAY
    first_day = last_day - days + 1
    rollups = collection_days(chain_id, collection, first_day, last_day, settings)
    stats = collection_stats(chain_id, collection, settings)
    return CollectionMarket(
        chain_id=chain_id,
        collection=collection,
        first_day=first_day,
        last_day=last_day,
        days=[
            MarketDay(day=d.day, mints=d.mints, sales=d.sales, volume={c: str(v) for c, v in d.volume.items()})
            for d in rollups
            if d.mints or d.sales
        ],
        floor={c: str(v) for c, v in floor_prices(chain_id, collection, first_day, last_day, settings).items()},
        holders=stats.holders,
        holders_by_size=stats.holders_by_size,
        median_held_days=stats.median_held_days,
        flipper_holders=stats.flipper_holders,
        flipper_share=stats.flipper_share,
    )
