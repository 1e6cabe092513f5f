"""Seaport's `OrderFulfilled` as an NFT sale (docs/architecture.md, "NFT markets"). Pure, like decode.py,
which routes the topic here with the emitting contract's fee recipients."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from shared.events import NftSale, Standard, TokenTransfer


class Malformed(ValueError):
    """The log does not have OrderFulfilled's shape: counted malformed."""


class Unmodelled(ValueError):
    """A well-formed log of a known topic that Kith does not model (a bundle, a swap): ignored."""


_CLEAN_ADDRESS_PREFIX = "0" * 24


def _address(word: str) -> str:
    if len(word) != 64 or not word.startswith(_CLEAN_ADDRESS_PREFIX):
        raise Malformed("address word has dirty high bytes")
    return "0x" + word[24:].lower()


def _uint(word: str) -> int:
    return int(word, 16)


def _words(data: str, count: int) -> list[str]:
    body = data[2:]
    if len(body) < 64 * count:
        raise Malformed(f"data has {len(body) // 64} words, need {count}")
    return [body[64 * i : 64 * i + 64] for i in range(count)]


_NATIVE, _ERC20, _ERC721, _ERC1155, _ERC721_CRITERIA, _ERC1155_CRITERIA = range(6)
_NFT_STANDARD = {
    _ERC721: Standard.ERC721,
    _ERC1155: Standard.ERC1155,
    _ERC721_CRITERIA: Standard.ERC721,
    _ERC1155_CRITERIA: Standard.ERC1155,
}


class _Item(NamedTuple):
    item_type: int
    token: str
    identifier: int
    amount: int
    recipient: str | None  # consideration items only


def _items(body: str, offset_word: str, width: int) -> list[_Item]:
    offset = _uint(offset_word) * 2
    if offset + 64 > len(body):
        raise Malformed("item array offset beyond data")
    count = _uint(body[offset : offset + 64])
    start = offset + 64
    if start + 64 * width * count > len(body):
        raise Malformed("item array length beyond data")
    items = []
    for i in range(count):
        words = [body[start + 64 * (width * i + j) : start + 64 * (width * i + j + 1)] for j in range(width)]
        item_type = _uint(words[0])
        if item_type > _ERC1155_CRITERIA:
            raise Malformed(f"item type {item_type}")
        recipient = _address(words[4]) if width == 5 else None
        items.append(_Item(item_type, _address(words[1]), _uint(words[2]), _uint(words[3]), recipient))
    return items


def order_fulfilled(log: Mapping[str, Any], common: Mapping[str, Any], fee_recipients: frozenset[str]) -> list[NftSale]:
    """One Seaport order as a sale of one NFT for one currency.

    A listing offers the NFT and asks for payment items; an accepted offer offers an ERC-20 and asks
    for the NFT (to the offerer) and the fees out of the offered amount. Consideration paid to the
    seller is the seller's proceeds, to a fee recipient the fee, to anyone else the royalty. Orders of
    several NFTs or currencies are well-formed but not a single sale: ignored.
    """
    topics = log["topics"]
    if len(topics) != 3:
        raise Malformed(f"OrderFulfilled with {len(topics)} topics, expected 3")
    order_hash, recipient_word, offer_offset, consideration_offset = _words(log["data"], 4)
    body = log["data"][2:]
    offerer, recipient = _address(topics[1][2:]), _address(recipient_word)
    offer, consideration = _items(body, offer_offset, 4), _items(body, consideration_offset, 5)
    offered_nfts = [item for item in offer if item.item_type in _NFT_STANDARD]
    asked_nfts = [item for item in consideration if item.item_type in _NFT_STANDARD]
    if len(offered_nfts) == 1 and not asked_nfts and len(offer) == 1:
        side, nft, seller, buyer = "listing", offered_nfts[0], offerer, recipient
        payments = consideration
        price = sum(item.amount for item in payments)
    elif len(asked_nfts) == 1 and not offered_nfts and offer and asked_nfts[0].recipient == offerer:
        side, nft, seller, buyer = "offer", asked_nfts[0], recipient, offerer
        payments = [item for item in consideration if item.item_type not in _NFT_STANDARD]
        price = sum(item.amount for item in offer)
    else:
        raise Unmodelled("not a sale of one NFT")
    currencies = {(item.item_type, item.token) for item in (offer if side == "offer" else payments)}
    currencies |= {(item.item_type, item.token) for item in payments}
    if len(currencies) != 1 or next(iter(currencies))[0] not in (_NATIVE, _ERC20):
        raise Unmodelled("paid in several currencies, or not in a currency")
    fee = sum(item.amount for item in payments if item.recipient in fee_recipients and item.recipient != seller)
    to_seller = sum(item.amount for item in payments if item.recipient == seller)
    royalty = sum(item.amount for item in payments if item.recipient not in fee_recipients and item.recipient != seller)
    # a listing's seller is paid by consideration; an accepted offer pays the seller what is left of it
    proceeds = to_seller if side == "listing" else price - fee - royalty
    if proceeds < 0:
        raise Malformed("fees exceed the offered amount")
    return [
        NftSale(
            **common,
            standard=Standard.SEAPORT,
            order_hash="0x" + order_hash,
            side=side,
            seller=seller,
            buyer=buyer,
            collection=nft.token,
            nft_standard=_NFT_STANDARD[nft.item_type],
            token_id=nft.identifier,
            units=nft.amount,
            currency=next(iter(currencies))[1],
            price=price,
            seller_proceeds=proceeds,
            fee=fee,
            royalty=royalty,
        )
    ]


def attach_sales(events: Sequence[Any]) -> list[Any]:
    """Each sale names the NFT transfer it settles: same transaction and token, seller to buyer."""
    transfers: dict[tuple[str, str, int, str, str], str] = {}
    for event in events:
        if isinstance(event, TokenTransfer) and event.token_id is not None:
            where = (event.tx_hash, event.contract, event.token_id, event.from_address, event.to_address)
            transfers.setdefault(where, event.event_id)
    attached: list[Any] = []
    for event in events:
        if isinstance(event, NftSale):
            settled = transfers.get((event.tx_hash, event.collection, event.token_id, event.seller, event.buyer))
            event = event.model_copy(update={"settles": settled}) if settled else event
        attached.append(event)
    return attached
