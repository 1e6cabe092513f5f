// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title KithPriceOracle: owner-set USD prices with 8 decimals, Aave's base-currency convention.
/// @notice The simulator drifts prices through it to push lending positions toward liquidation.
contract KithPriceOracle {
    address public owner;
    mapping(address => uint256) internal _prices;

    // Same shape as Aave's test PriceOracle, so the price history is visible on chain.
    event AssetPriceUpdated(address asset, uint256 price, uint256 timestamp);

    error NotOwner();
    error LengthMismatch();

    constructor() {
        owner = msg.sender;
    }

    function setAssetPrice(address asset, uint256 price) external {
        if (msg.sender != owner) revert NotOwner();
        _prices[asset] = price;
        emit AssetPriceUpdated(asset, price, block.timestamp);
    }

    function setAssetPrices(address[] calldata assets, uint256[] calldata prices) external {
        if (msg.sender != owner) revert NotOwner();
        if (assets.length != prices.length) revert LengthMismatch();
        for (uint256 i; i < assets.length; ++i) {
            _prices[assets[i]] = prices[i];
            emit AssetPriceUpdated(assets[i], prices[i], block.timestamp);
        }
    }

    function getAssetPrice(address asset) external view returns (uint256) {
        return _prices[asset];
    }
}
