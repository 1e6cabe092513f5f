// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title KithMerkleDistributor: Uniswap's MerkleDistributor shape over an OpenZeppelin StandardMerkleTree.
/// @notice The tree's leaves are `keccak256(keccak256(abi.encode(account, amount)))`, leaf type
///         ["address","uint256"], as Kith's airdrop snapshots export them. Such a leaf has no index, so
///         each account claims at most once, and `Claimed` names the account (indexed) and the amount.
contract KithMerkleDistributor {
    IERC20 public immutable token;
    bytes32 public immutable merkleRoot;

    mapping(address => bool) public isClaimed;

    event Claimed(address indexed account, uint256 amount);

    error AlreadyClaimed();
    error InvalidProof();
    error TransferFailed();

    constructor(address token_, bytes32 merkleRoot_) {
        token = IERC20(token_);
        merkleRoot = merkleRoot_;
    }

    function claim(address account, uint256 amount, bytes32[] calldata merkleProof) external {
        if (isClaimed[account]) revert AlreadyClaimed();
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, amount))));
        if (!MerkleProof.verify(merkleProof, merkleRoot, leaf)) revert InvalidProof();
        isClaimed[account] = true;
        if (!token.transfer(account, amount)) revert TransferFailed();
        emit Claimed(account, amount);
    }
}
