// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

interface IStakedToken {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @title KithStakingPool: the staking-contract shape of StakingRewards, without rewards.
/// @notice Emits Staked(address indexed user, uint256 amount) and Withdrawn(address indexed user, uint256 amount)
///         as StakingRewards does; balanceOf is the stake Kith's profiles must equal.
contract KithStakingPool {
    IStakedToken public immutable stakingToken;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;

    event Staked(address indexed user, uint256 amount);
    event Withdrawn(address indexed user, uint256 amount);

    constructor(IStakedToken stakingToken_) {
        stakingToken = stakingToken_;
    }

    function stake(uint256 amount) external {
        require(amount > 0, "cannot stake 0");
        totalSupply += amount;
        balanceOf[msg.sender] += amount;
        require(stakingToken.transferFrom(msg.sender, address(this), amount), "transfer failed");
        emit Staked(msg.sender, amount);
    }

    function withdraw(uint256 amount) external {
        require(amount > 0, "cannot withdraw 0");
        require(balanceOf[msg.sender] >= amount, "more than staked");
        totalSupply -= amount;
        balanceOf[msg.sender] -= amount;
        require(stakingToken.transfer(msg.sender, amount), "transfer failed");
        emit Withdrawn(msg.sender, amount);
    }
}
