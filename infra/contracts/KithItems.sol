// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

interface IERC1155Receiver {
    function onERC1155Received(address operator, address from, uint256 id, uint256 value, bytes calldata data)
        external
        returns (bytes4);

    function onERC1155BatchReceived(
        address operator,
        address from,
        uint256[] calldata ids,
        uint256[] calldata values,
        bytes calldata data
    ) external returns (bytes4);
}

/// @title KithItems: the community's ERC-1155 items (badges, tickets, consumables).
/// @notice The owner mints; holders trade with safeTransferFrom / safeBatchTransferFrom.
contract KithItems {
    address public owner;
    mapping(uint256 => mapping(address => uint256)) public balanceOf;
    mapping(address => mapping(address => bool)) public isApprovedForAll;

    event TransferSingle(
        address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value
    );
    event TransferBatch(
        address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values
    );
    event ApprovalForAll(address indexed account, address indexed operator, bool approved);

    error NotOwner();
    error NotAuthorized();
    error InsufficientBalance(uint256 id);
    error LengthMismatch();
    error ZeroAddress();
    error UnsafeRecipient();

    constructor() {
        owner = msg.sender;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 // ERC-165
            || interfaceId == 0xd9b67a26 // ERC-1155
            || interfaceId == 0x0e89341c; // ERC-1155 metadata URI
    }

    function uri(uint256) external pure returns (string memory) {
        return "kith://items/{id}";
    }

    function balanceOfBatch(address[] calldata accounts, uint256[] calldata ids)
        external
        view
        returns (uint256[] memory balances)
    {
        if (accounts.length != ids.length) revert LengthMismatch();
        balances = new uint256[](accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            balances[i] = balanceOf[ids[i]][accounts[i]];
        }
    }

    function setApprovalForAll(address operator, bool approved) external {
        isApprovedForAll[msg.sender][operator] = approved;
        emit ApprovalForAll(msg.sender, operator, approved);
    }

    function mint(address to, uint256 id, uint256 value) external onlyOwner {
        if (to == address(0)) revert ZeroAddress();
        balanceOf[id][to] += value;
        emit TransferSingle(msg.sender, address(0), to, id, value);
        _checkSingle(address(0), to, id, value, "");
    }

    function mintBatch(address to, uint256[] calldata ids, uint256[] calldata values) external onlyOwner {
        if (to == address(0)) revert ZeroAddress();
        if (ids.length != values.length) revert LengthMismatch();
        for (uint256 i; i < ids.length; ++i) {
            balanceOf[ids[i]][to] += values[i];
        }
        emit TransferBatch(msg.sender, address(0), to, ids, values);
        _checkBatch(address(0), to, ids, values, "");
    }

    function safeTransferFrom(address from, address to, uint256 id, uint256 value, bytes calldata data) external {
        if (to == address(0)) revert ZeroAddress();
        if (msg.sender != from && !isApprovedForAll[from][msg.sender]) revert NotAuthorized();
        uint256 fromBalance = balanceOf[id][from];
        if (fromBalance < value) revert InsufficientBalance(id);
        unchecked {
            balanceOf[id][from] = fromBalance - value;
        }
        balanceOf[id][to] += value;
        emit TransferSingle(msg.sender, from, to, id, value);
        _checkSingle(from, to, id, value, data);
    }

    function safeBatchTransferFrom(
        address from,
        address to,
        uint256[] calldata ids,
        uint256[] calldata values,
        bytes calldata data
    ) external {
        if (to == address(0)) revert ZeroAddress();
        if (ids.length != values.length) revert LengthMismatch();
        if (msg.sender != from && !isApprovedForAll[from][msg.sender]) revert NotAuthorized();
        for (uint256 i; i < ids.length; ++i) {
            uint256 id = ids[i];
            uint256 fromBalance = balanceOf[id][from];
            if (fromBalance < values[i]) revert InsufficientBalance(id);
            unchecked {
                balanceOf[id][from] = fromBalance - values[i];
            }
            balanceOf[id][to] += values[i];
        }
        emit TransferBatch(msg.sender, from, to, ids, values);
        _checkBatch(from, to, ids, values, data);
    }

    // EOAs need no acceptance check; a contract must accept the items or they would be stuck there.
    function _checkSingle(address from, address to, uint256 id, uint256 value, bytes memory data) internal {
        if (to.code.length != 0) {
            if (IERC1155Receiver(to).onERC1155Received(msg.sender, from, id, value, data) != 0xf23a6e61) {
                revert UnsafeRecipient();
            }
        }
    }

    function _checkBatch(
        address from,
        address to,
        uint256[] calldata ids,
        uint256[] calldata values,
        bytes memory data
    ) internal {
        if (to.code.length != 0) {
            if (IERC1155Receiver(to).onERC1155BatchReceived(msg.sender, from, ids, values, data) != 0xbc197c81) {
                revert UnsafeRecipient();
            }
        }
    }
}
