"""Seaport's OrderFulfilled by shape: listings and accepted bids, fee and royalty split by recipient,
the transfer a sale settles, and malformed, unmodelled and unknown logs (encoded with eth_abi)."""

from __future__ import annotations

from typing import Any

from eth_abi import encode

from shared.chain import abi
from shared.chain.decode import decode_logs
from shared.events import ZERO_ADDRESS, NftSale, Standard, TokenTransfer
from tests.unit.test_decode import TIMES, log, topic_of

SEAPORT = "0x" + "5e" * 20
NFT = "0x" + "4f" * 20
WETH = "0x" + "ee" * 20
SELLER, BUYER, FEE, CREATOR = ("0x" + c * 20 for c in ("a1", "b2", "fe", "c7"))
NATIVE, ERC20, ERC721, ERC1155 = 0, 1, 2, 3


def fulfilled(
    offerer: str, recipient: str, offer: list[tuple[Any, ...]], consideration: list[tuple[Any, ...]], index: int = 1
) -> dict[str, Any]:
    data = encode(
        ["bytes32", "address", "(uint8,address,uint256,uint256)[]", "(uint8,address,uint256,uint256,address)[]"],
        [b"\x11" * 32, recipient, offer, consideration],
    )
    return log(
        [abi.ORDER_FULFILLED, topic_of(offerer), topic_of(ZERO_ADDRESS)], "0x" + data.hex(), index, address=SEAPORT
    )


def nft_transfer(token_id: int, sender: str, receiver: str, index: int = 0) -> dict[str, Any]:
    return log([abi.TRANSFER, topic_of(sender), topic_of(receiver), topic_of(token_id)], "0x", index, address=NFT)


def decode(*logs: dict[str, Any]) -> Any:
    return decode_logs(31337, list(logs), TIMES, fee_recipients={SEAPORT: frozenset({FEE})})


def test_a_listing_splits_its_price_into_proceeds_fee_and_royalty_and_settles_its_transfer() -> None:
    consideration = [
        (NATIVE, ZERO_ADDRESS, 0, 900, SELLER),
        (NATIVE, ZERO_ADDRESS, 0, 25, FEE),
        (NATIVE, ZERO_ADDRESS, 0, 75, CREATOR),
    ]
    decoded = decode(nft_transfer(7, SELLER, BUYER), fulfilled(SELLER, BUYER, [(ERC721, NFT, 7, 1)], consideration))
    transfer, sale = decoded.events
    assert isinstance(transfer, TokenTransfer) and isinstance(sale, NftSale)
    assert (sale.side, sale.seller, sale.buyer, sale.collection, sale.token_id, sale.units) == (
        "listing",
        SELLER,
        BUYER,
        NFT,
        7,
        1,
    )
    assert (sale.currency, sale.price, sale.seller_proceeds, sale.fee, sale.royalty) == (
        ZERO_ADDRESS,
        1000,
        900,
        25,
        75,
    )
    assert sale.standard == Standard.SEAPORT and sale.nft_standard == Standard.ERC721
    assert sale.settles == transfer.event_id


def test_an_accepted_bid_pays_the_seller_what_the_fees_leave_of_it() -> None:
    offer = [(ERC20, WETH, 0, 2_000)]
    consideration = [(ERC1155, NFT, 9, 3, BUYER), (ERC20, WETH, 0, 50, FEE), (ERC20, WETH, 0, 100, CREATOR)]
    (sale,) = decode(fulfilled(BUYER, SELLER, offer, consideration)).events
    assert isinstance(sale, NftSale)
    assert (sale.side, sale.seller, sale.buyer, sale.units, sale.nft_standard) == (
        "offer",
        SELLER,
        BUYER,
        3,
        Standard.ERC1155,
    )
    assert (sale.currency, sale.price, sale.seller_proceeds, sale.fee, sale.royalty) == (WETH, 2_000, 1_850, 50, 100)
    assert sale.settles is None  # the collection's transfer is not among the logs


def test_bundles_and_mixed_currencies_are_ignored_and_broken_logs_counted_malformed() -> None:
    paid = [(NATIVE, ZERO_ADDRESS, 0, 10, SELLER)]
    bundle = fulfilled(SELLER, BUYER, [(ERC721, NFT, 1, 1), (ERC721, NFT, 2, 1)], paid)
    mixed = fulfilled(SELLER, BUYER, [(ERC721, NFT, 1, 1)], [*paid, (ERC20, WETH, 0, 5, FEE)])
    good = fulfilled(SELLER, BUYER, [(ERC721, NFT, 1, 1)], paid)
    two_topics = {**good, "topics": good["topics"][:2]}
    cut_off = {**good, "data": good["data"][:-64]}
    dirty_recipient = {**good, "data": good["data"][:66] + "ff" + good["data"][68:]}
    bad_item_type = fulfilled(SELLER, BUYER, [(7, NFT, 1, 1)], paid)
    unknown = log([topic_of(12345)], "0x", 9, address=SEAPORT)
    decoded = decode(bundle, mixed, two_topics, cut_off, dirty_recipient, bad_item_type, unknown)
    assert decoded.events == []
    assert (decoded.ignored, decoded.malformed) == (3, 4)


def test_fee_recipients_are_per_marketplace_contract() -> None:
    consideration = [(NATIVE, ZERO_ADDRESS, 0, 90, SELLER), (NATIVE, ZERO_ADDRESS, 0, 10, FEE)]
    entry = fulfilled(SELLER, BUYER, [(ERC721, NFT, 1, 1)], consideration)
    (unconfigured,) = decode_logs(31337, [entry], TIMES).events
    assert isinstance(unconfigured, NftSale) and (unconfigured.fee, unconfigured.royalty) == (0, 10)


def test_a_mint_is_a_transfer_from_the_zero_address() -> None:
    minted, moved = decode(nft_transfer(1, ZERO_ADDRESS, BUYER), nft_transfer(1, BUYER, SELLER, 1)).events
    assert isinstance(minted, TokenTransfer) and isinstance(moved, TokenTransfer)
    assert minted.is_mint and not moved.is_mint
