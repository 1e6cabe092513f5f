// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title KithToken: the community's ERC-20, plus the asset tokens (WETH, USDC) the lending pool lists.
/// @notice Self-contained on purpose: the simulator deploys several copies and airdrops to thousands of
///         wallets, so it stays small and gas-lean.
contract KithToken {
    string public name;
    string public symbol;
    uint8 public immutable decimals;
    uint256 public totalSupply;
    address public owner;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner();
    error InsufficientBalance();
    error InsufficientAllowance();
    error LengthMismatch();
    error ZeroAddress();

    constructor(string memory name_, string memory symbol_, uint8 decimals_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < value) revert InsufficientAllowance();
            unchecked {
                allowance[from][msg.sender] = allowed - value;
            }
        }
        _transfer(from, to, value);
        return true;
    }

    function mint(address to, uint256 value) external onlyOwner {
        if (to == address(0)) revert ZeroAddress();
        totalSupply += value;
        unchecked {
            // Cannot overflow: totalSupply bounds every balance.
            balanceOf[to] += value;
        }
        emit Transfer(address(0), to, value);
    }

    /// @notice Pays many recipients from the owner's balance in one transaction, one Transfer each:
    ///         an airdrop of thousands of wallets costs a handful of transactions instead of thousands.
    function batchTransfer(address[] calldata to, uint256[] calldata amounts) external onlyOwner {
        uint256 n = to.length;
        if (n != amounts.length) revert LengthMismatch();
        uint256 total;
        for (uint256 i; i < n; ) {
            total += amounts[i];
            unchecked {
                ++i;
            }
        }
        uint256 fromBalance = balanceOf[msg.sender];
        if (fromBalance < total) revert InsufficientBalance();
        unchecked {
            balanceOf[msg.sender] = fromBalance - total;
        }
        for (uint256 i; i < n; ) {
            address recipient = to[i];
            if (recipient == address(0)) revert ZeroAddress();
            uint256 amount = amounts[i];
            unchecked {
                balanceOf[recipient] += amount;
                ++i;
            }
            emit Transfer(msg.sender, recipient, amount);
        }
    }

    function _transfer(address from, address to, uint256 value) internal {
        if (to == address(0)) revert ZeroAddress();
        uint256 fromBalance = balanceOf[from];
        if (fromBalance < value) revert InsufficientBalance();
        unchecked {
            balanceOf[from] = fromBalance - value;
            balanceOf[to] += value;
        }
        emit Transfer(from, to, value);
    }
}
