"""The chain events Kith ingests: one typed model per kind, shared by ingestion and every consumer.

Amounts, token ids and other uint256 values are Python ints in the model and decimal strings in
DynamoDB, because a DynamoDB Number holds only 38 significant digits and a uint256 needs 78.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Standard(StrEnum):
    ERC20 = "erc20"
    ERC721 = "erc721"
    ERC1155 = "erc1155"
    GOVERNOR = "governor"
    LENDING_POOL = "lending-pool"
    PRICE_ORACLE = "price-oracle"
    ERC4626_VAULT = "erc4626-vault"
    STAKING = "staking"
    MERKLE_DISTRIBUTOR = "merkle-distributor"
    SEAPORT = "seaport"


class EventBase(BaseModel):
    """Where an event sits on the chain. (chain_id, block_number, log_index, sub_index, tx_hash) is its identity."""

    model_config = ConfigDict(frozen=True)

    chain_id: int
    block_number: int
    block_hash: str
    block_time: int  # unix seconds
    tx_hash: str
    log_index: int
    # One log can carry several events (an ERC-1155 TransferBatch); sub_index tells them apart.
    sub_index: int = 0
    contract: str  # lower-case 0x address of the emitting contract
    standard: Standard

    @property
    def event_id(self) -> str:
        return f"{self.chain_id}:{self.block_number}:{self.log_index}:{self.sub_index}:{self.tx_hash}"


class TokenTransfer(EventBase):
    kind: Literal["transfer"] = "transfer"
    from_address: str
    to_address: str
    token_id: int | None = None  # ERC-721 and ERC-1155
    amount: int  # raw uint256; 1 for an ERC-721 transfer
    decimals: int | None = None  # token metadata, read tolerantly at ingest; None when the token has none
    symbol: str | None = None

    @property
    def is_mint(self) -> bool:
        """An NFT (ERC-721 or ERC-1155) brought into being: a transfer from the zero address."""
        return self.token_id is not None and self.from_address == ZERO_ADDRESS


class VoteCast(EventBase):
    kind: Literal["vote"] = "vote"
    voter: str
    proposal_id: int
    support: int
    weight: int
    reason: str = ""


LendingAction = Literal[
    "supply",
    "withdraw",
    "borrow",
    "repay",
    "liquidation",
    "collateral_enabled",
    "collateral_disabled",
    "reserve_data_updated",
]


class LendingEvent(EventBase):
    """An Aave-v3-shaped pool event. `user` is the wallet whose position changes."""

    kind: Literal["lending"] = "lending"
    action: LendingAction
    reserve: str  # the asset
    user: str
    amount: int = 0
    # liquidation: the debt asset is `reserve`, collateral is `collateral_asset`, `liquidator` repaid
    collateral_asset: str | None = None
    liquidated_collateral: int = 0
    liquidator: str | None = None
    # reserve_data_updated: the rates, ray (1e27) precision
    liquidity_rate: int = 0
    variable_borrow_rate: int = 0


class PriceUpdate(EventBase):
    """An oracle's AssetPriceUpdated: the asset's new price (USD, 8 decimals, Aave's base currency)."""

    kind: Literal["price"] = "price"
    asset: str
    price: int
    timestamp: int  # as the oracle reports it (its block time)


StakeAction = Literal["deposit", "withdraw", "stake", "unstake"]
STAKE_INCREASES: frozenset[str] = frozenset({"deposit", "stake"})


class StakeEvent(EventBase):
    """A wallet's stake in a vault or staking contract grows (deposit, stake) or shrinks (withdraw, unstake).

    ERC-4626 vaults: `owner` is the wallet whose shares are minted or burned, `assets` the underlying
    moved and `shares` the shares minted or burned. Staking contracts (`Staked`/`Withdrawn`): `owner` is
    the staking user, `assets` the staked amount, and `shares` is None (the stake is the token itself).
    """

    kind: Literal["stake"] = "stake"
    action: StakeAction
    owner: str
    assets: int
    shares: int | None = None
    sender: str | None = None  # vault: who paid the assets in, or who called withdraw
    receiver: str | None = None  # vault withdraw: who received the assets
    # the token the contract holds, from the tracked contract's `underlying`; None when not configured
    underlying: str | None = None


class AirdropClaim(EventBase):
    """A Merkle distributor's Claimed(address indexed account, uint256 amount): `account` received `amount`."""

    kind: Literal["claim"] = "claim"
    account: str
    amount: int


SaleSide = Literal["listing", "offer"]


class NftSale(EventBase):
    """A marketplace (Seaport) order that sold one NFT for one currency, from its `OrderFulfilled` log.

    `price` is everything the buyer paid; it splits into the seller's proceeds, the marketplace fee
    (paid to one of the Seaport contract's configured fee recipients) and the royalty (paid to anyone
    else). A `listing` was offered by the seller and taken by the buyer; an `offer` (a bid) was made by
    the buyer in an ERC-20 and accepted by the seller. `settles` is the event id of the NFT transfer
    the sale paid for (same transaction and token, seller to buyer), when that token is tracked.
    """

    kind: Literal["sale"] = "sale"
    order_hash: str
    side: SaleSide
    seller: str
    buyer: str
    collection: str
    nft_standard: Standard
    token_id: int
    units: int
    currency: str  # the ERC-20 paid, or the zero address for the chain's native coin
    price: int
    seller_proceeds: int
    fee: int = 0
    royalty: int = 0
    settles: str | None = None


ChainEvent = Annotated[
    TokenTransfer | VoteCast | LendingEvent | PriceUpdate | StakeEvent | AirdropClaim | NftSale,
    Field(discriminator="kind"),
]

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
