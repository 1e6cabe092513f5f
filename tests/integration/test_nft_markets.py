"""Real Seaport 1.6 orders on anvil, ingested: Kith's decoded price, fee and royalty are what the contract
paid out, mints and sales roll up per collection, and a wallet's flip shows in its facts (anvil + moto)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.localcloud.anvil import Anvil
from infra.localcloud.template import Template
from shared import tracking
from shared.api.routes.collections import collection_market
from shared.chain.codec import event_from_item
from shared.events import NftSale, Standard, TokenTransfer
from shared.ingest import ingest_chain
from shared.profiles.collections import collection_days, collection_stats, floor_prices
from shared.profiles.model import DAY
from shared.profiles.store import load_profile
from shared.profiles.stream import apply_images
from shared.profiles.trades import flips, realised_profit
from shared.settings import ChainConfig, Settings, TrackedContract
from tests.integration.test_lending_health import StreamReader
from tests.support.ingest_chain import HistoryAnvil, fast_options, scan_items
from tests.support.seaport import ERC20, ERC721, NATIVE, ZERO, Item, Market, deploy_market

pytestmark = pytest.mark.integration
FEE_BPS = 250
ETH = 10**18


def listing(market: Market, seller: int, token_id: int, price: int, currency: str, fulfiller: str) -> dict[str, int]:
    """The seller lists one NFT at `price` (royalty by the collection's ERC-2981, a 2.5% fee); the
    fulfiller buys it. Returns what each payee's balance gained."""
    kind = NATIVE if currency == ZERO else ERC20
    royalty_to, royalty = market.royalty(token_id, price)
    fee = price * FEE_BPS // 10_000
    seller_address = market.address(seller)
    payees = {"seller": seller_address, "fee": market.fee_recipient, "royalty": royalty_to}
    before = {role: market.balance(wallet, currency) for role, wallet in payees.items()}
    market.fulfil(
        seller,
        [Item(ERC721, market.collection.address, token_id, 1)],
        [
            Item(kind, currency, 0, price - fee - royalty, seller_address),
            Item(kind, currency, 0, fee, market.fee_recipient),
            Item(kind, currency, 0, royalty, royalty_to),
        ],
        fulfiller,
    )
    return {role: market.balance(wallet, currency) - before[role] for role, wallet in payees.items()}


def accepted_bid(market: Market, bidder: int, token_id: int, price: int, seller: str) -> dict[str, int]:
    """The bidder offers `price` of the payment token for one NFT; its holder accepts."""
    currency = str(market.payment.address).lower()
    royalty_to, royalty = market.royalty(token_id, price)
    fee = price * FEE_BPS // 10_000
    payees = {"seller": seller, "fee": market.fee_recipient, "royalty": royalty_to}
    before = {role: market.balance(wallet, currency) for role, wallet in payees.items()}
    market.fulfil(
        bidder,
        [Item(ERC20, currency, 0, price)],
        [
            Item(ERC721, market.collection.address, token_id, 1, market.address(bidder)),
            Item(ERC20, currency, 0, fee, market.fee_recipient),
            Item(ERC20, currency, 0, royalty, royalty_to),
        ],
        seller,
    )
    return {role: market.balance(wallet, currency) - before[role] for role, wallet in payees.items()}


def advance(market: Market, seconds: int) -> None:
    market.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    market.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def ingest(market: Market, url: str, deployed: Any, template: Template) -> tuple[Settings, list[Any], StreamReader]:
    contracts = [
        TrackedContract(address=market.collection.address, standard=Standard.ERC721),
        TrackedContract(address=market.payment.address, standard=Standard.ERC20),
        TrackedContract(
            address=market.seaport.address, standard=Standard.SEAPORT, fee_recipients=[market.fee_recipient]
        ),
    ]
    config = ChainConfig(chain_id=31337, rpc_url=url, contracts=contracts, max_range=50)
    settings = Settings(events_table=deployed.events_table, app_table=deployed.app_table, chains=[config])
    stream = StreamReader(deployed.events_table, template, "ProfilesFunction")
    summary = ingest_chain(config, settings, fast_options())
    assert summary.malformed == 0
    _, records = stream.read()
    apply_images(((r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in records), settings)
    return settings, [event_from_item(i) for i in scan_items(deployed.events_table)], stream


def test_seaport_sales_decode_to_what_the_contract_paid(anvil_chain: Anvil, deployed: Any, template: Template) -> None:
    # Given a royalty-paying collection minted by a creator-seller, and real Seaport orders over it:
    # an ETH listing, an ERC-20 listing, an accepted ERC-20 bid, and two days later a resale of the first
    market = deploy_market(anvil_chain.url, royalty_bps=500)
    seller, buyer, second_buyer, flipper_buyer = (
        market.address(1),
        market.address(2),
        market.address(3),
        market.address(4),
    )
    weth = str(market.payment.address).lower()
    for token_id in (1, 2, 3):
        market.mint(seller, token_id)
    market.approve_nfts(seller)
    market.approve_nfts(buyer)
    market.fund(buyer, 1_000 * ETH)
    market.fund(second_buyer, 1_000 * ETH)
    market.fund(seller, 0)  # accepting a bid, the seller pays its fee and royalty out of the bid
    paid = {
        1: listing(market, 1, 1, ETH, ZERO, buyer),
        2: listing(market, 1, 2, 40 * ETH, weth, second_buyer),
        3: accepted_bid(market, 2, 3, 30 * ETH, seller),
    }
    advance(market, 2 * DAY)
    paid[4] = listing(market, 2, 1, 3 * ETH, ZERO, flipper_buyer)

    # When the chain is ingested and its stream applied to profiles
    settings, events, _ = ingest(market, anvil_chain.url, deployed, template)

    # Then each sale is decoded with the price, fee and royalty that moved on chain, in its currency
    sales = sorted((e for e in events if isinstance(e, NftSale)), key=lambda e: (e.block_number, e.log_index))
    assert [(s.side, s.token_id, s.currency) for s in sales] == [
        ("listing", 1, ZERO),
        ("listing", 2, weth),
        ("offer", 3, weth),
        ("listing", 1, ZERO),
    ]
    for sale, moved in zip(sales, paid.values(), strict=True):
        assert (sale.seller_proceeds, sale.fee, sale.royalty) == (moved["seller"], moved["fee"], moved["royalty"])
        assert sale.price == sale.seller_proceeds + sale.fee + sale.royalty
        assert sale.royalty == market.royalty(sale.token_id, sale.price)[1] > 0
        assert sale.collection == str(market.collection.address).lower()
    assert [(s.seller, s.buyer) for s in sales] == [
        (seller, buyer),
        (seller, second_buyer),
        (seller, buyer),
        (buyer, flipper_buyer),
    ]
    # and each is attached to the NFT transfer it settles; the first three transfers are mints
    transfers = {e.event_id: e for e in events if isinstance(e, TokenTransfer) and e.token_id is not None}
    for sale in sales:
        settled = transfers[sale.settles or ""]
        assert (settled.tx_hash, settled.token_id, settled.from_address, settled.to_address) == (
            sale.tx_hash,
            sale.token_id,
            sale.seller,
            sale.buyer,
        )
    assert sorted(t.token_id or 0 for t in transfers.values() if t.is_mint) == [1, 2, 3]

    # and the wallets' facts: the flipper bought token 1 for 1 ETH and sold it two days later
    loaded = load_profile(buyer, settings)
    assert loaded is not None
    profile, _ = loaded
    assert (profile.nft_bought, profile.nft_sold) == (2, 1)
    assert realised_profit(profile) == {ZERO: sales[3].seller_proceeds - ETH}
    assert flips(profile, 7) == 1 and flips(profile, 1) == 0
    creator = load_profile(seller, settings)
    assert creator is not None
    assert creator[0].nft_sold == 3 and realised_profit(creator[0]) == {}  # minted: no known cost

    # and the collection's rollups: three mints and three sales the first day, the floor per currency
    first_day = sales[0].block_time // DAY
    days = collection_days(31337, sales[0].collection, first_day, first_day + 3, settings)
    assert sum(d.mints for d in days) == 3
    assert {c: sum(d.sales.get(c, 0) for d in days) for c in (ZERO, weth)} == {ZERO: 2, weth: 2}
    assert sum(d.volume.get(ZERO, 0) for d in days) == 4 * ETH
    assert floor_prices(31337, sales[0].collection, first_day, first_day + 3, settings) == {ZERO: ETH, weth: 30 * ETH}
    stats = collection_stats(31337, sales[0].collection, settings)
    # holders now: the buyer (token 3), the second buyer (token 2), the flipper's buyer (token 1)
    assert stats.holders_by_size == {"1": 3, "2-5": 0, "6-20": 0, "over 20": 0}
    # units sold by days held: the creator's three within the day of their mint, the flip after two days
    mints = {t.token_id: t.block_time for t in transfers.values() if t.is_mint}
    bought = {(s.buyer, s.token_id): s.block_time for s in sales}
    held = [s.block_time - bought.get((s.seller, s.token_id), mints[s.token_id]) for s in sales]
    assert stats.held_days == {0: 3, 2: 1} == _counts([h // DAY for h in held])
    assert stats.median_held_days == 0.0
    assert stats.flipper_holders == 1  # the buyer flipped token 1 and still holds token 3

    # and the API's view of the collection over today: the resale, two days ahead, is outside the window
    view = collection_market(31337, sales[0].collection, days=1)
    if view.last_day == first_day:  # anvil's clock started today, as the API's does
        assert view.floor == {ZERO: str(ETH), weth: str(30 * ETH)}
        assert [d.mints for d in view.days] == [3]
    assert (view.holders, view.flipper_holders, view.flipper_share) == (3, 1, pytest.approx(1 / 3))


def _counts(values: list[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for value in values:
        found[value] = found.get(value, 0) + 1
    return found


def sync(config: ChainConfig, settings: Settings, stream: StreamReader) -> None:
    ingest_chain(config, settings, fast_options())
    _, records = stream.read()
    apply_images(((r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in records), settings)


def test_a_reorged_sale_is_taken_back_from_wallets_and_collection(
    tmp_path: Path, deployed: Any, template: Template
) -> None:
    with HistoryAnvil(tmp_path / "anvil") as chain:
        # Given a minted NFT, tracked with its market, the stream delivered to profiles as Lambda would
        market = deploy_market(chain.url)
        seller, buyer = market.address(1), market.address(2)
        market.mint(seller, 1)
        market.approve_nfts(seller)
        contracts = [
            TrackedContract(address=market.collection.address, standard=Standard.ERC721),
            TrackedContract(
                address=market.seaport.address, standard=Standard.SEAPORT, fee_recipients=[market.fee_recipient]
            ),
        ]
        config = ChainConfig(chain_id=31337, rpc_url=chain.url, contracts=contracts, max_range=50, reorg_window=8)
        settings = Settings(events_table=deployed.events_table, app_table=deployed.app_table, chains=[config])
        stream = StreamReader(deployed.events_table, template, "ProfilesFunction")
        collection = str(market.collection.address).lower()

        # and its sale, ingested and applied
        listing(market, 1, 1, ETH, ZERO, buyer)
        sync(config, settings, stream)
        bought = load_profile(buyer, settings)
        assert bought is not None and bought[0].nft_bought == 1
        today = int(market.w3.eth.get_block("latest")["timestamp"]) // DAY
        assert floor_prices(31337, collection, today - 1, today + 1, settings) == {ZERO: ETH}

        # When a reorg replaces the sale's block with an empty one, and the chain moves on
        market.w3.provider.make_request("anvil_reorg", [1, []])  # type: ignore[arg-type]
        market.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        sync(config, settings, stream)

        # Then the sale is gone from the events, the wallets and the collection, and the seller holds again
        assert not [i for i in scan_items(deployed.events_table) if i.get("kind") == "sale"]
        after = load_profile(buyer, settings)
        assert after is None or (after[0].nft_bought, after[0].nft_trades) == (0, {})
        sold = load_profile(seller, settings)
        assert sold is not None and (sold[0].nft_sold, realised_profit(sold[0])) == (0, {})
        assert floor_prices(31337, collection, today - 1, today + 1, settings) == {}
        days = collection_days(31337, collection, today - 1, today + 1, settings)
        assert [(d.mints, d.sales) for d in days] == [(1, {})]
        stats = collection_stats(31337, collection, settings)
        assert (stats.holders_by_size["1"], stats.held_days, stats.flipper_holders) == (1, {0: 0}, 0)


def test_a_marketplace_is_tracked_with_its_fee_recipients(anvil_chain: Anvil, deployed: Any) -> None:
    # Given a chain seeded with one token, and a Seaport contract added later with two fee recipients
    token, seaport = "0x" + "c0" * 20, "0x" + "5e" * 20
    fee_recipients = ["0x" + "FE" * 20, "0x" + "fd" * 20]
    seed = ChainConfig(
        chain_id=31337, rpc_url=anvil_chain.url, contracts=[TrackedContract(address=token, standard=Standard.ERC20)]
    )
    settings = Settings(events_table=deployed.events_table, app_table=deployed.app_table, chains=[seed])
    tracking.forget_cached()
    tracking.tracked_chain(settings, 31337)  # applies the seed
    marketplace = TrackedContract(address=seaport, standard=Standard.SEAPORT, fee_recipients=fee_recipients)
    tracking.track_contracts(settings, 31337, [marketplace])

    # When the chain's configuration is read back, as ingest reads it
    tracking.forget_cached()
    chain = tracking.tracked_chain(settings, 31337)

    # Then the marketplace keeps its fee recipients (lower-cased), and a malformed one is refused
    (stored,) = [c for c in chain.contracts if c.address == seaport]
    assert (stored.standard, stored.fee_recipients) == (Standard.SEAPORT, [r.lower() for r in fee_recipients])
    with pytest.raises(ValueError):
        TrackedContract(address=seaport, standard=Standard.SEAPORT, fee_recipients=["0x1234"])
