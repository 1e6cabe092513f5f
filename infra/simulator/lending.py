"""An exact Python mirror of KithLendingPool's bookkeeping and Aave v3 maths.

The simulator plans every pool call against this mirror first, so it never sends a transaction the
pool would revert, and it knows each position's health factor without asking the chain. The
integer maths (rounding included) is line for line what KithLendingPool.sol does; the simulator
checks the mirror against `getUserAccountData` at the end of every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

PERCENTAGE_FACTOR = 10_000
WAD = 10**18
MAX_UINT256 = 2**256 - 1
LIQUIDATION_HF = WAD
CLOSE_FACTOR_HF_THRESHOLD = 95 * 10**16
DEFAULT_CLOSE_FACTOR = 5_000
MAX_CLOSE_FACTOR = 10_000


class MirrorError(ValueError):
    """The pool would revert this call."""


def percent_mul(value: int, percentage: int) -> int:
    return (value * percentage + PERCENTAGE_FACTOR // 2) // PERCENTAGE_FACTOR


def percent_div(value: int, percentage: int) -> int:
    return (value * PERCENTAGE_FACTOR + percentage // 2) // percentage


def wad_div(a: int, b: int) -> int:
    return (a * WAD + b // 2) // b


@dataclass(frozen=True)
class Reserve:
    asset: str
    id: int
    decimals: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int


class AccountData(NamedTuple):
    total_collateral_base: int
    total_debt_base: int
    available_borrows_base: int
    current_liquidation_threshold: int
    ltv: int
    health_factor: int


class Liquidation(NamedTuple):
    debt_covered: int
    collateral_seized: int
    logs: int


@dataclass
class PoolMirror:
    reserves: list[Reserve]
    prices: dict[str, int] = field(default_factory=dict)
    supplied: dict[tuple[str, str], int] = field(default_factory=dict)  # (asset, user) -> amount
    borrowed: dict[tuple[str, str], int] = field(default_factory=dict)
    collateral: dict[str, dict[str, bool]] = field(default_factory=dict)  # user -> asset -> enabled
    rates: dict[str, tuple[int, int]] = field(default_factory=dict)  # asset -> (liquidity, variable) ray

    def reserve(self, asset: str) -> Reserve:
        for r in self.reserves:
            if r.asset == asset:
                return r
        raise MirrorError(f"reserve {asset} is not listed")

    def uses_as_collateral(self, user: str, asset: str) -> bool:
        return self.collateral.get(user, {}).get(asset, False)

    def _set_collateral(self, user: str, asset: str, enabled: bool) -> None:
        self.collateral.setdefault(user, {})[asset] = enabled

    def account(self, user: str) -> AccountData:
        total_collateral = total_debt = ltv_sum = threshold_sum = 0
        for r in self.reserves:
            supplied = self.supplied.get((r.asset, user), 0)
            borrowed = self.borrowed.get((r.asset, user), 0)
            if supplied == 0 and borrowed == 0:
                continue
            price = self.prices.get(r.asset, 0)
            unit = 10**r.decimals
            if supplied and r.liquidation_threshold and self.uses_as_collateral(user, r.asset):
                value = supplied * price // unit
                total_collateral += value
                ltv_sum += value * r.ltv
                threshold_sum += value * r.liquidation_threshold
            total_debt += borrowed * price // unit
        if total_collateral:
            ltv, threshold = ltv_sum // total_collateral, threshold_sum // total_collateral
        else:
            ltv = threshold = 0
        hf = MAX_UINT256 if total_debt == 0 else wad_div(percent_mul(total_collateral, threshold), total_debt)
        borrowable = percent_mul(total_collateral, ltv)
        available = borrowable - total_debt if borrowable > total_debt else 0
        return AccountData(total_collateral, total_debt, available, threshold, ltv, hf)

    def health_factor(self, user: str) -> int:
        return self.account(user).health_factor

    def debt(self, user: str) -> int:
        return sum(self.borrowed.get((r.asset, user), 0) for r in self.reserves)

    # ------------------------------------------------------------------ actions (return logs emitted)

    def supply(self, asset: str, user: str, amount: int) -> int:
        r = self.reserve(asset)
        if amount <= 0:
            raise MirrorError("supply of nothing")
        first = self.supplied.get((asset, user), 0) == 0
        self.supplied[(asset, user)] = self.supplied.get((asset, user), 0) + amount
        if first and r.ltv and not self.uses_as_collateral(user, asset):
            self._set_collateral(user, asset, True)
            return 2  # Supply + ReserveUsedAsCollateralEnabled
        return 1

    def withdraw(self, asset: str, user: str, amount: int) -> tuple[int, int]:
        """Returns (amount withdrawn, logs). `amount` MAX_UINT256 withdraws everything."""
        self.reserve(asset)
        balance = self.supplied.get((asset, user), 0)
        take = balance if amount == MAX_UINT256 else amount
        if take <= 0 or take > balance:
            raise MirrorError("withdraw more than supplied")
        collateral = self.uses_as_collateral(user, asset)
        before = (self.supplied.get((asset, user), 0), collateral)
        self.supplied[(asset, user)] = balance - take
        logs = 1
        if collateral and take == balance:
            self._set_collateral(user, asset, False)
            logs += 1
        if collateral and self.health_factor(user) < LIQUIDATION_HF:
            self.supplied[(asset, user)], enabled = before
            self._set_collateral(user, asset, enabled)
            raise MirrorError("withdraw would drop the health factor below 1")
        return take, logs

    def can_borrow(self, asset: str, user: str, amount: int) -> bool:
        r = self.reserve(asset)
        data = self.account(user)
        price = self.prices.get(asset, 0)
        if amount <= 0 or data.total_collateral_base == 0 or data.health_factor < LIQUIDATION_HF or price == 0:
            return False
        amount_base = price * amount // 10**r.decimals
        return data.ltv != 0 and percent_div(data.total_debt_base + amount_base, data.ltv) <= (
            data.total_collateral_base
        )

    def borrow(self, asset: str, user: str, amount: int) -> int:
        if not self.can_borrow(asset, user, amount):
            raise MirrorError("collateral cannot cover the new borrow")
        self.borrowed[(asset, user)] = self.borrowed.get((asset, user), 0) + amount
        return 1

    def repay(self, asset: str, user: str, amount: int) -> tuple[int, int]:
        debt = self.borrowed.get((asset, user), 0)
        if debt == 0 or amount <= 0:
            raise MirrorError("nothing to repay")
        paid = min(amount, debt)
        self.borrowed[(asset, user)] = debt - paid
        return paid, 1

    def liquidate(self, collateral_asset: str, debt_asset: str, user: str, debt_to_cover: int) -> Liquidation:
        """liquidationCall with receiveAToken = false."""
        collateral_reserve = self.reserve(collateral_asset)
        debt_reserve = self.reserve(debt_asset)
        hf = self.health_factor(user)
        if hf >= LIQUIDATION_HF:
            raise MirrorError("health factor not below 1")
        user_collateral = self.supplied.get((collateral_asset, user), 0)
        if user_collateral == 0 or not self.uses_as_collateral(user, collateral_asset):
            raise MirrorError("no collateral")
        user_debt = self.borrowed.get((debt_asset, user), 0)
        if user_debt == 0:
            raise MirrorError("no debt")
        close_factor = DEFAULT_CLOSE_FACTOR if hf > CLOSE_FACTOR_HF_THRESHOLD else MAX_CLOSE_FACTOR
        actual = min(debt_to_cover, percent_mul(user_debt, close_factor))
        collateral_price = self.prices[collateral_asset]
        debt_price = self.prices[debt_asset]
        collateral_unit = 10**collateral_reserve.decimals
        debt_unit = 10**debt_reserve.decimals
        bonus = collateral_reserve.liquidation_bonus
        max_collateral = percent_mul(debt_price * actual * collateral_unit // (collateral_price * debt_unit), bonus)
        if max_collateral > user_collateral:
            seized = user_collateral
            covered = percent_div(collateral_price * seized * debt_unit // (debt_price * collateral_unit), bonus)
        else:
            seized, covered = max_collateral, actual
        self.borrowed[(debt_asset, user)] = user_debt - covered
        self.supplied[(collateral_asset, user)] = user_collateral - seized
        logs = 1
        if seized == user_collateral:
            self._set_collateral(user, collateral_asset, False)
            logs += 1
        return Liquidation(covered, seized, logs)

    def utilization_rates(self, asset: str) -> tuple[int, int]:
        """A two-slope rate model (ray) from the mirror's utilization, as Aave's default strategy."""
        total_supplied = sum(v for (a, _), v in self.supplied.items() if a == asset)
        total_borrowed = sum(v for (a, _), v in self.borrowed.items() if a == asset)
        ray = 10**27
        if total_supplied == 0:
            return 0, 0
        utilization = min(ray, total_borrowed * ray // total_supplied)
        optimal = 80 * ray // 100
        base, slope1, slope2 = 0, 4 * ray // 100, 75 * ray // 100
        if utilization <= optimal:
            variable = base + slope1 * utilization // optimal
        else:
            variable = base + slope1 + slope2 * (utilization - optimal) // (ray - optimal)
        liquidity = variable * utilization // ray * 9 // 10  # 10% reserve factor
        return liquidity, variable
