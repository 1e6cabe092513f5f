"""A wallet's market history per NFT, folded from its purchases, sales and mints: sums and counts only,
so an event and its rollback commute (docs/architecture.md, "NFT markets")."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from shared.events import ChainEvent, NftSale, Standard, TokenTransfer

NFT_STANDARDS = (Standard.ERC721, Standard.ERC1155)


class NftTrade(BaseModel):
    """A wallet's market history of one NFT (chain, collection, token id): sums and counts only, so an
    event and its rollback commute (docs/architecture.md, "NFT markets")."""

    bought: int = 0  # units
    sold: int = 0
    cost: dict[str, int] = Field(default_factory=dict)  # currency -> paid for them
    proceeds: dict[str, int] = Field(default_factory=dict)  # currency -> received for them, net of fees
    acquired: dict[str, int] = Field(default_factory=dict)  # unix time -> units bought or minted then
    disposed: dict[str, int] = Field(default_factory=dict)  # unix time -> units sold then

    @property
    def empty(self) -> bool:
        return not (self.bought or self.sold or self.cost or self.proceeds or self.acquired or self.disposed)


class Trader(Protocol):
    """What of a wallet profile the market fold reads and writes."""

    nft_trades: dict[str, NftTrade]
    nft_bought: int
    nft_sold: int


class Step(Protocol):
    """What of one activity the market fold reads."""

    @property
    def direction(self) -> str: ...

    @property
    def block_time(self) -> int: ...


def trade_key(chain_id: int, collection: str, token_id: int) -> str:
    return f"{chain_id}:{collection}:{token_id}"


def _bump(counts: dict[str, int], key: str, delta: int) -> None:
    counts[key] = counts.get(key, 0) + delta
    if counts[key] == 0:
        del counts[key]


def apply_to_trades(profile: Trader, activity: Step, event: ChainEvent, sign: int) -> None:
    """The market side of one activity, in place: a purchase, a sale, or a mint (an acquisition at no
    known price). sign=-1 takes it back exactly."""
    if isinstance(event, TokenTransfer):
        if not (event.is_mint and activity.direction == "in" and event.standard in NFT_STANDARDS):
            return
        key, units = trade_key(event.chain_id, event.contract, event.token_id or 0), event.amount
    elif isinstance(event, NftSale):
        key, units = trade_key(event.chain_id, event.collection, event.token_id), event.units
    else:
        return
    trade = profile.nft_trades.setdefault(key, NftTrade())
    when = str(activity.block_time)
    if isinstance(event, TokenTransfer):
        _bump(trade.acquired, when, sign * units)
    elif activity.direction == "bought":
        trade.bought += sign * units
        profile.nft_bought += sign * units
        _bump(trade.cost, event.currency, sign * event.price)
        _bump(trade.acquired, when, sign * units)
    else:
        trade.sold += sign * units
        profile.nft_sold += sign * units
        _bump(trade.proceeds, event.currency, sign * event.seller_proceeds)
        _bump(trade.disposed, when, sign * units)
    if trade.empty:
        del profile.nft_trades[key]
