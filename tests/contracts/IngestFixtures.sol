// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

// Small contracts that emit real events with the exact shapes the ingester decodes.
// They hold no balances: the tests choose every argument, including amounts above 2**200.

contract FixtureERC20 {
    event Transfer(address indexed from, address indexed to, uint256 value);

    string public name;
    string public symbol;
    uint8 public decimals;

    constructor(string memory name_, string memory symbol_, uint8 decimals_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
    }

    function emitTransfer(address from, address to, uint256 value) external {
        emit Transfer(from, to, value);
    }

    // Many transfers in one transaction, for the benchmark chain.
    function spray(address from, uint256 first, uint256 count, uint256 value) external {
        for (uint256 i = 0; i < count; i++) {
            emit Transfer(from, address(uint160(first + i)), value + i);
        }
    }

    // A Transfer with only two topics: a malformed log the decoder must count and skip.
    function emitMalformed() external {
        bytes32 sig = keccak256("Transfer(address,address,uint256)");
        assembly {
            mstore(0, 7)
            log2(0, 32, sig, caller())
        }
    }
}

contract Bytes32SymbolFixture {
    event Transfer(address indexed from, address indexed to, uint256 value);

    bytes32 public name = "Maker";
    bytes32 public symbol = "MKR";
    uint8 public decimals = 18;

    function emitTransfer(address from, address to, uint256 value) external {
        emit Transfer(from, to, value);
    }
}

contract NoDecimalsFixture {
    event Transfer(address indexed from, address indexed to, uint256 value);

    string public name = "No Decimals";
    string public symbol = "NODEC";

    function emitTransfer(address from, address to, uint256 value) external {
        emit Transfer(from, to, value);
    }
}

contract FixtureERC721 {
    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);

    string public name = "Fixture Collection";
    string public symbol = "FIXC";

    function emitTransfer(address from, address to, uint256 tokenId) external {
        emit Transfer(from, to, tokenId);
    }

    function spray(address from, uint256 first, uint256 count) external {
        for (uint256 i = 0; i < count; i++) {
            emit Transfer(from, address(uint160(first + i)), first + i);
        }
    }
}

contract FixtureERC1155 {
    event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value);
    event TransferBatch(
        address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values
    );

    function emitSingle(address from, address to, uint256 id, uint256 value) external {
        emit TransferSingle(msg.sender, from, to, id, value);
    }

    function emitBatch(address from, address to, uint256[] calldata ids, uint256[] calldata values) external {
        emit TransferBatch(msg.sender, from, to, ids, values);
    }

    function spray(address from, uint256 first, uint256 count) external {
        for (uint256 i = 0; i < count; i++) {
            emit TransferSingle(msg.sender, from, address(uint160(first + i)), i % 7, i + 1);
        }
    }
}

contract FixtureGovernor {
    event VoteCast(address indexed voter, uint256 proposalId, uint8 support, uint256 weight, string reason);
    event VoteCastWithParams(
        address indexed voter, uint256 proposalId, uint8 support, uint256 weight, string reason, bytes params
    );

    function castVote(uint256 proposalId, uint8 support, uint256 weight, string calldata reason) external {
        emit VoteCast(msg.sender, proposalId, support, weight, reason);
    }

    function castVoteWithParams(
        uint256 proposalId,
        uint8 support,
        uint256 weight,
        string calldata reason,
        bytes calldata params
    ) external {
        emit VoteCastWithParams(msg.sender, proposalId, support, weight, reason, params);
    }
}

// Aave v3 Pool event signatures, emitted on demand.
contract FixturePool {
    event Supply(
        address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint16 indexed referralCode
    );
    event Withdraw(address indexed reserve, address indexed user, address indexed to, uint256 amount);
    event Borrow(
        address indexed reserve,
        address user,
        address indexed onBehalfOf,
        uint256 amount,
        uint8 interestRateMode,
        uint256 borrowRate,
        uint16 indexed referralCode
    );
    event Repay(address indexed reserve, address indexed user, address indexed repayer, uint256 amount, bool useATokens);
    event LiquidationCall(
        address indexed collateralAsset,
        address indexed debtAsset,
        address indexed user,
        uint256 debtToCover,
        uint256 liquidatedCollateralAmount,
        address liquidator,
        bool receiveAToken
    );
    event ReserveUsedAsCollateralEnabled(address indexed reserve, address indexed user);
    event ReserveUsedAsCollateralDisabled(address indexed reserve, address indexed user);
    event ReserveDataUpdated(
        address indexed reserve,
        uint256 liquidityRate,
        uint256 stableBorrowRate,
        uint256 variableBorrowRate,
        uint256 liquidityIndex,
        uint256 variableBorrowIndex
    );

    function supply(address reserve, address onBehalfOf, uint256 amount) external {
        emit Supply(reserve, msg.sender, onBehalfOf, amount, 0);
    }

    function withdraw(address reserve, address to, uint256 amount) external {
        emit Withdraw(reserve, msg.sender, to, amount);
    }

    function borrow(address reserve, address onBehalfOf, uint256 amount) external {
        emit Borrow(reserve, msg.sender, onBehalfOf, amount, 2, 3e25, 0);
    }

    function repay(address reserve, address user, uint256 amount) external {
        emit Repay(reserve, user, msg.sender, amount, false);
    }

    function liquidate(address collateral, address debt, address user, uint256 debtToCover, uint256 seized) external {
        emit LiquidationCall(collateral, debt, user, debtToCover, seized, msg.sender, false);
    }

    function setCollateral(address reserve, bool enabled) external {
        if (enabled) {
            emit ReserveUsedAsCollateralEnabled(reserve, msg.sender);
        } else {
            emit ReserveUsedAsCollateralDisabled(reserve, msg.sender);
        }
    }

    function updateReserve(address reserve, uint256 liquidityRate, uint256 variableBorrowRate) external {
        emit ReserveDataUpdated(reserve, liquidityRate, 0, variableBorrowRate, 1e27, 1e27);
    }
}
