"""Event signatures Kith decodes, and the topic0 values the log filter asks for, by standard."""

from __future__ import annotations

from typing import Final

from shared.chain.keccak import keccak
from shared.events import Standard


def topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


TRANSFER: Final = topic("Transfer(address,address,uint256)")
TRANSFER_SINGLE: Final = topic("TransferSingle(address,address,address,uint256,uint256)")
TRANSFER_BATCH: Final = topic("TransferBatch(address,address,address,uint256[],uint256[])")
VOTE_CAST: Final = topic("VoteCast(address,uint256,uint8,uint256,string)")
VOTE_CAST_WITH_PARAMS: Final = topic("VoteCastWithParams(address,uint256,uint8,uint256,string,bytes)")

# Aave v3 Pool
SUPPLY: Final = topic("Supply(address,address,address,uint256,uint16)")
WITHDRAW: Final = topic("Withdraw(address,address,address,uint256)")
BORROW: Final = topic("Borrow(address,address,address,uint256,uint8,uint256,uint16)")
REPAY: Final = topic("Repay(address,address,address,uint256,bool)")
LIQUIDATION_CALL: Final = topic("LiquidationCall(address,address,address,uint256,uint256,address,bool)")
COLLATERAL_ENABLED: Final = topic("ReserveUsedAsCollateralEnabled(address,address)")
COLLATERAL_DISABLED: Final = topic("ReserveUsedAsCollateralDisabled(address,address)")
RESERVE_DATA_UPDATED: Final = topic("ReserveDataUpdated(address,uint256,uint256,uint256,uint256,uint256)")

# Aave's test PriceOracle (and KithPriceOracle)
ASSET_PRICE_UPDATED: Final = topic("AssetPriceUpdated(address,uint256,uint256)")

# ERC-4626 vaults
VAULT_DEPOSIT: Final = topic("Deposit(address,address,uint256,uint256)")
VAULT_WITHDRAW: Final = topic("Withdraw(address,address,address,uint256,uint256)")

# Staking contracts of the StakingRewards shape: Staked(address indexed user, uint256 amount)
STAKED: Final = topic("Staked(address,uint256)")
WITHDRAWN: Final = topic("Withdrawn(address,uint256)")

# KithMerkleDistributor (infra/contracts): Uniswap's MerkleDistributor over a StandardMerkleTree leaf
CLAIMED: Final = topic("Claimed(address,uint256)")

# Seaport 1.x: OrderFulfilled(bytes32 orderHash, address indexed offerer, address indexed zone,
#   address recipient, SpentItem[] offer, ReceivedItem[] consideration)
ORDER_FULFILLED: Final = topic(
    "OrderFulfilled(bytes32,address,address,address,(uint8,address,uint256,uint256)[],"
    "(uint8,address,uint256,uint256,address)[])"
)

TOPICS_BY_STANDARD: Final[dict[Standard, tuple[str, ...]]] = {
    Standard.ERC20: (TRANSFER,),
    Standard.ERC721: (TRANSFER,),
    Standard.ERC1155: (TRANSFER_SINGLE, TRANSFER_BATCH),
    Standard.GOVERNOR: (VOTE_CAST, VOTE_CAST_WITH_PARAMS),
    Standard.LENDING_POOL: (
        SUPPLY,
        WITHDRAW,
        BORROW,
        REPAY,
        LIQUIDATION_CALL,
        COLLATERAL_ENABLED,
        COLLATERAL_DISABLED,
        RESERVE_DATA_UPDATED,
    ),
    Standard.PRICE_ORACLE: (ASSET_PRICE_UPDATED,),
    Standard.ERC4626_VAULT: (VAULT_DEPOSIT, VAULT_WITHDRAW),
    Standard.STAKING: (STAKED, WITHDRAWN),
    Standard.MERKLE_DISTRIBUTOR: (CLAIMED,),
    Standard.SEAPORT: (ORDER_FULFILLED,),
}

TOKEN_STANDARDS: Final = frozenset({Standard.ERC20, Standard.ERC721, Standard.ERC1155})

# 4-byte selectors of the metadata getters
NAME_SELECTOR: Final = "0x06fdde03"
SYMBOL_SELECTOR: Final = "0x95d89b41"
DECIMALS_SELECTOR: Final = "0x313ce567"
