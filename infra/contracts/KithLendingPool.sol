// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

interface IPriceOracle {
    function getAssetPrice(address asset) external view returns (uint256);
}

/// @title KithLendingPool: an Aave-v3-shaped pool with bookkeeping-only balances.
/// @notice Function signatures, events and the account-data maths follow Aave v3's Pool,
///         GenericLogic and LiquidationLogic, so an indexer written for Aave decodes it unchanged.
///         No tokens move: amounts are bookkeeping, which keeps the simulator fast. Interest does
///         not accrue (indexes stay at one ray); rates are only reported via ReserveDataUpdated.
contract KithLendingPool {
    struct ReserveConfig {
        uint8 id; // bit position in a user's collateral bitmap
        uint8 decimals;
        uint16 ltv; // bps
        uint16 liquidationThreshold; // bps
        uint16 liquidationBonus; // bps, e.g. 10500 = 5% bonus
        bool active;
        uint128 liquidityRate; // ray
        uint128 variableBorrowRate; // ray
    }

    struct UserReserve {
        uint128 supplied;
        uint128 borrowed;
    }

    uint256 internal constant RAY = 1e27;
    uint256 internal constant PERCENTAGE_FACTOR = 1e4;
    uint256 internal constant HEALTH_FACTOR_LIQUIDATION_THRESHOLD = 1e18;
    // Aave v3: half the debt may be covered, or all of it once HF falls below 0.95.
    uint256 internal constant DEFAULT_LIQUIDATION_CLOSE_FACTOR = 0.5e4;
    uint256 internal constant MAX_LIQUIDATION_CLOSE_FACTOR = 1e4;
    uint256 internal constant CLOSE_FACTOR_HF_THRESHOLD = 0.95e18;
    uint256 internal constant VARIABLE_RATE_MODE = 2;

    address public owner;
    IPriceOracle public immutable oracle;
    address[] internal _reservesList;
    mapping(address => ReserveConfig) public reserves;
    mapping(address => mapping(address => UserReserve)) internal _userReserves; // asset => user => position
    mapping(address => uint256) internal _collateralBitmap; // user => bit per reserve id

    // Exactly Aave v3 Pool's event signatures.
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

    error NotOwner();
    error ReserveNotActive(address asset);
    error ReserveAlreadyListed(address asset);
    error InvalidAmount();
    error InvalidConfig();
    error OnlyVariableRate();
    error OnlySelfBorrow();
    error NotEnoughBalance();
    error NoDebt();
    error NoCollateral();
    error PriceUnavailable(address asset);
    error CollateralCannotCoverNewBorrow();
    error HealthFactorLowerThanLiquidationThreshold();
    error HealthFactorNotBelowThreshold();
    error TooManyReserves();

    constructor(address oracle_) {
        owner = msg.sender;
        oracle = IPriceOracle(oracle_);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    // ----------------------------------------------------------------- admin

    function initReserve(
        address asset,
        uint8 decimals,
        uint16 ltv,
        uint16 liquidationThreshold,
        uint16 liquidationBonus
    ) external onlyOwner {
        if (reserves[asset].active) revert ReserveAlreadyListed(asset);
        if (_reservesList.length >= 256) revert TooManyReserves();
        if (ltv > liquidationThreshold || liquidationThreshold > PERCENTAGE_FACTOR) revert InvalidConfig();
        if (liquidationBonus < PERCENTAGE_FACTOR) revert InvalidConfig();
        reserves[asset] = ReserveConfig(
            uint8(_reservesList.length), decimals, ltv, liquidationThreshold, liquidationBonus, true, 0, 0
        );
        _reservesList.push(asset);
    }

    function setReserveRates(address asset, uint256 liquidityRate, uint256 variableBorrowRate) external onlyOwner {
        ReserveConfig storage r = _active(asset);
        r.liquidityRate = uint128(liquidityRate);
        r.variableBorrowRate = uint128(variableBorrowRate);
        emit ReserveDataUpdated(asset, liquidityRate, 0, variableBorrowRate, RAY, RAY);
    }

    function getReservesList() external view returns (address[] memory) {
        return _reservesList;
    }

    // ----------------------------------------------------------------- user actions

    function supply(address asset, uint256 amount, address onBehalfOf, uint16 referralCode) external {
        ReserveConfig storage r = _active(asset);
        if (amount == 0) revert InvalidAmount();
        UserReserve storage position = _userReserves[asset][onBehalfOf];
        bool first = position.supplied == 0;
        position.supplied += uint128(amount);
        emit Supply(asset, msg.sender, onBehalfOf, amount, referralCode);
        // Aave turns a first deposit into collateral automatically when the reserve has an LTV.
        if (first && r.ltv != 0 && !_usesAsCollateral(onBehalfOf, r.id)) {
            _collateralBitmap[onBehalfOf] |= (uint256(1) << r.id);
            emit ReserveUsedAsCollateralEnabled(asset, onBehalfOf);
        }
    }

    function withdraw(address asset, uint256 amount, address to) external returns (uint256) {
        ReserveConfig storage r = _active(asset);
        UserReserve storage position = _userReserves[asset][msg.sender];
        uint256 balance = position.supplied;
        uint256 amountToWithdraw = amount == type(uint256).max ? balance : amount;
        if (amountToWithdraw == 0) revert InvalidAmount();
        if (amountToWithdraw > balance) revert NotEnoughBalance();
        position.supplied = uint128(balance - amountToWithdraw);
        bool collateral = _usesAsCollateral(msg.sender, r.id);
        if (collateral && amountToWithdraw == balance) {
            _collateralBitmap[msg.sender] &= ~(uint256(1) << r.id);
            emit ReserveUsedAsCollateralDisabled(asset, msg.sender);
        }
        if (collateral) {
            (,,,,, uint256 hf) = getUserAccountData(msg.sender);
            if (hf < HEALTH_FACTOR_LIQUIDATION_THRESHOLD) revert HealthFactorLowerThanLiquidationThreshold();
        }
        emit Withdraw(asset, msg.sender, to, amountToWithdraw);
        return amountToWithdraw;
    }

    function borrow(
        address asset,
        uint256 amount,
        uint256 interestRateMode,
        uint16 referralCode,
        address onBehalfOf
    ) external {
        ReserveConfig storage r = _active(asset);
        if (amount == 0) revert InvalidAmount();
        if (interestRateMode != VARIABLE_RATE_MODE) revert OnlyVariableRate();
        // Credit delegation is out of scope: a wallet borrows only for itself.
        if (onBehalfOf != msg.sender) revert OnlySelfBorrow();
        (uint256 totalCollateral, uint256 totalDebt,,, uint256 ltv, uint256 hf) = getUserAccountData(onBehalfOf);
        if (totalCollateral == 0) revert NoCollateral();
        if (hf < HEALTH_FACTOR_LIQUIDATION_THRESHOLD) revert HealthFactorLowerThanLiquidationThreshold();
        uint256 price = oracle.getAssetPrice(asset);
        if (price == 0) revert PriceUnavailable(asset);
        // As Aave's ValidationLogic.validateBorrow: the new total debt must fit under the LTV.
        uint256 amountInBase = (price * amount) / (10 ** r.decimals);
        if (ltv == 0 || _percentDiv(totalDebt + amountInBase, ltv) > totalCollateral) {
            revert CollateralCannotCoverNewBorrow();
        }
        _userReserves[asset][onBehalfOf].borrowed += uint128(amount);
        emit Borrow(asset, msg.sender, onBehalfOf, amount, uint8(VARIABLE_RATE_MODE), r.variableBorrowRate, referralCode);
    }

    function repay(address asset, uint256 amount, uint256 interestRateMode, address onBehalfOf)
        external
        returns (uint256)
    {
        _active(asset);
        if (interestRateMode != VARIABLE_RATE_MODE) revert OnlyVariableRate();
        UserReserve storage position = _userReserves[asset][onBehalfOf];
        uint256 debt = position.borrowed;
        if (debt == 0) revert NoDebt();
        if (amount == 0) revert InvalidAmount();
        uint256 paybackAmount = amount < debt ? amount : debt;
        position.borrowed = uint128(debt - paybackAmount);
        emit Repay(asset, onBehalfOf, msg.sender, paybackAmount, false);
        return paybackAmount;
    }

    function setUserUseReserveAsCollateral(address asset, bool useAsCollateral) external {
        ReserveConfig storage r = _active(asset);
        if (_usesAsCollateral(msg.sender, r.id) == useAsCollateral) return;
        if (useAsCollateral) {
            if (_userReserves[asset][msg.sender].supplied == 0 || r.ltv == 0) revert NotEnoughBalance();
            _collateralBitmap[msg.sender] |= (uint256(1) << r.id);
            emit ReserveUsedAsCollateralEnabled(asset, msg.sender);
        } else {
            _collateralBitmap[msg.sender] &= ~(uint256(1) << r.id);
            (,,,,, uint256 hf) = getUserAccountData(msg.sender);
            if (hf < HEALTH_FACTOR_LIQUIDATION_THRESHOLD) revert HealthFactorLowerThanLiquidationThreshold();
            emit ReserveUsedAsCollateralDisabled(asset, msg.sender);
        }
    }

    function liquidationCall(
        address collateralAsset,
        address debtAsset,
        address user,
        uint256 debtToCover,
        bool receiveAToken
    ) external {
        _active(debtAsset);
        uint8 collateralId = _active(collateralAsset).id;
        (,,,,, uint256 hf) = getUserAccountData(user);
        if (hf >= HEALTH_FACTOR_LIQUIDATION_THRESHOLD) revert HealthFactorNotBelowThreshold();
        UserReserve storage collateralPosition = _userReserves[collateralAsset][user];
        uint256 userCollateral = collateralPosition.supplied;
        if (userCollateral == 0 || !_usesAsCollateral(user, collateralId)) revert NoCollateral();
        (uint256 collateralAmount, uint256 debtAmount) = _collateralToLiquidate(
            collateralAsset, debtAsset, _maxLiquidatableDebt(debtAsset, user, debtToCover, hf), userCollateral
        );
        _userReserves[debtAsset][user].borrowed -= uint128(debtAmount);
        collateralPosition.supplied = uint128(userCollateral - collateralAmount);
        if (collateralAmount == userCollateral) {
            _collateralBitmap[user] &= ~(uint256(1) << collateralId);
            emit ReserveUsedAsCollateralDisabled(collateralAsset, user);
        }
        if (receiveAToken) _creditLiquidator(collateralAsset, collateralAmount);
        emit LiquidationCall(
            collateralAsset, debtAsset, user, debtAmount, collateralAmount, msg.sender, receiveAToken
        );
    }

    // ----------------------------------------------------------------- views

    function getUserReserve(address asset, address user)
        external
        view
        returns (uint256 supplied, uint256 borrowed, bool usageAsCollateralEnabled)
    {
        UserReserve storage position = _userReserves[asset][user];
        return (position.supplied, position.borrowed, _usesAsCollateral(user, reserves[asset].id));
    }

    /// @notice As Aave v3 GenericLogic.calculateUserAccountData: base currency is USD with 8 decimals,
    ///         ltv and threshold are collateral-weighted averages in bps, the health factor is a wad.
    function getUserAccountData(address user)
        public
        view
        returns (
            uint256 totalCollateralBase,
            uint256 totalDebtBase,
            uint256 availableBorrowsBase,
            uint256 currentLiquidationThreshold,
            uint256 ltv,
            uint256 healthFactor
        )
    {
        uint256 bitmap = _collateralBitmap[user];
        uint256 n = _reservesList.length;
        for (uint256 i; i < n; ++i) {
            (uint256 collateralValue, uint256 debtValue, uint256 reserveLtv, uint256 reserveThreshold) =
                _positionInBase(_reservesList[i], user, bitmap);
            totalCollateralBase += collateralValue;
            totalDebtBase += debtValue;
            ltv += collateralValue * reserveLtv;
            currentLiquidationThreshold += collateralValue * reserveThreshold;
        }
        if (totalCollateralBase != 0) {
            ltv /= totalCollateralBase;
            currentLiquidationThreshold /= totalCollateralBase;
        } else {
            ltv = 0;
            currentLiquidationThreshold = 0;
        }
        healthFactor = totalDebtBase == 0
            ? type(uint256).max
            : _wadDiv(_percentMul(totalCollateralBase, currentLiquidationThreshold), totalDebtBase);
        uint256 borrowable = _percentMul(totalCollateralBase, ltv);
        availableBorrowsBase = borrowable > totalDebtBase ? borrowable - totalDebtBase : 0;
    }

    // ----------------------------------------------------------------- internals

    /// @dev One reserve's share of getUserAccountData; values round down, as in Aave v3.0.
    function _positionInBase(address asset, address user, uint256 bitmap)
        internal
        view
        returns (uint256 collateralValue, uint256 debtValue, uint256 reserveLtv, uint256 reserveThreshold)
    {
        UserReserve storage position = _userReserves[asset][user];
        uint256 supplied = position.supplied;
        uint256 borrowed = position.borrowed;
        if (supplied == 0 && borrowed == 0) return (0, 0, 0, 0);
        ReserveConfig storage r = reserves[asset];
        uint256 price = oracle.getAssetPrice(asset);
        uint256 unit = 10 ** r.decimals;
        if (supplied != 0 && r.liquidationThreshold != 0 && (bitmap >> r.id) & 1 == 1) {
            collateralValue = (supplied * price) / unit;
            reserveLtv = r.ltv;
            reserveThreshold = r.liquidationThreshold;
        }
        debtValue = (borrowed * price) / unit;
    }

    function _active(address asset) internal view returns (ReserveConfig storage r) {
        r = reserves[asset];
        if (!r.active) revert ReserveNotActive(asset);
    }

    function _usesAsCollateral(address user, uint8 id) internal view returns (bool) {
        return (_collateralBitmap[user] >> id) & 1 == 1;
    }

    /// @dev Aave v3 close factor: half the debt, or all of it once HF is below 0.95.
    function _maxLiquidatableDebt(address debtAsset, address user, uint256 debtToCover, uint256 hf)
        internal
        view
        returns (uint256)
    {
        uint256 userDebt = _userReserves[debtAsset][user].borrowed;
        if (userDebt == 0) revert NoDebt();
        uint256 closeFactor =
            hf > CLOSE_FACTOR_HF_THRESHOLD ? DEFAULT_LIQUIDATION_CLOSE_FACTOR : MAX_LIQUIDATION_CLOSE_FACTOR;
        uint256 maxDebt = _percentMul(userDebt, closeFactor);
        return debtToCover > maxDebt ? maxDebt : debtToCover;
    }

    /// @dev Aave v3 LiquidationLogic._calculateAvailableCollateralToLiquidate, without the protocol fee.
    function _collateralToLiquidate(
        address collateralAsset,
        address debtAsset,
        uint256 debtToCover,
        uint256 userCollateral
    ) internal view returns (uint256 collateralAmount, uint256 debtAmount) {
        uint256 collateralPrice = oracle.getAssetPrice(collateralAsset);
        uint256 debtPrice = oracle.getAssetPrice(debtAsset);
        if (collateralPrice == 0) revert PriceUnavailable(collateralAsset);
        if (debtPrice == 0) revert PriceUnavailable(debtAsset);
        uint256 collateralUnit = 10 ** reserves[collateralAsset].decimals;
        uint256 debtUnit = 10 ** reserves[debtAsset].decimals;
        uint256 bonus = reserves[collateralAsset].liquidationBonus;
        uint256 maxCollateral =
            _percentMul((debtPrice * debtToCover * collateralUnit) / (collateralPrice * debtUnit), bonus);
        if (maxCollateral > userCollateral) {
            collateralAmount = userCollateral;
            debtAmount = _percentDiv((collateralPrice * userCollateral * debtUnit) / (debtPrice * collateralUnit), bonus);
        } else {
            collateralAmount = maxCollateral;
            debtAmount = debtToCover;
        }
    }

    /// @dev With receiveAToken the liquidator keeps the seized collateral supplied in the pool.
    function _creditLiquidator(address collateralAsset, uint256 collateralAmount) internal {
        ReserveConfig storage r = reserves[collateralAsset];
        UserReserve storage position = _userReserves[collateralAsset][msg.sender];
        bool first = position.supplied == 0;
        position.supplied += uint128(collateralAmount);
        if (first && r.ltv != 0 && !_usesAsCollateral(msg.sender, r.id)) {
            _collateralBitmap[msg.sender] |= (uint256(1) << r.id);
            emit ReserveUsedAsCollateralEnabled(collateralAsset, msg.sender);
        }
    }

    // Aave's PercentageMath and WadRayMath, half-up rounding.
    function _percentMul(uint256 value, uint256 percentage) internal pure returns (uint256) {
        return (value * percentage + PERCENTAGE_FACTOR / 2) / PERCENTAGE_FACTOR;
    }

    function _percentDiv(uint256 value, uint256 percentage) internal pure returns (uint256) {
        return (value * PERCENTAGE_FACTOR + percentage / 2) / percentage;
    }

    function _wadDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * 1e18 + b / 2) / b;
    }
}
