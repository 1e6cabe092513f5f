"""A wallet's stakes in vaults and staking contracts: the position, its reversible sums and its run times.

Part of the profile (shared.profiles.model folds it with everything else).
"""

from __future__ import annotations

from pydantic import BaseModel

from shared.events import STAKE_INCREASES, StakeEvent, Standard

__all__ = ["StakePosition", "apply_stake", "stake_key", "step_stake_times"]


class StakePosition(BaseModel):
    """A wallet's stake in one vault or staking contract (docs/architecture.md, "Profiles, scores and rules").

    `assets` is in the underlying token's units: for a staking contract the staked amount, exactly as its
    balance mapping holds it; for a vault the assets deposited minus those withdrawn, which equals the
    vault's maxWithdraw while its share price has not moved (yield or a loss moves it, and no event says
    so). `shares` is exact for a vault whatever its price.
    """

    standard: Standard
    underlying: str | None = None
    assets: int = 0
    shares: int = 0
    deposits: int = 0  # deposit and stake events
    withdrawals: int = 0  # withdraw and unstake events
    # order-dependent
    staked_since: int | None = None  # when the current continuous stake began
    unstaked_at: int | None = None  # when the stake last went to zero; None while staked

    @property
    def measure(self) -> int:
        """What makes the position staked: a vault's shares, a staking contract's amount."""
        return self.shares if self.standard == Standard.ERC4626_VAULT else self.assets

    @property
    def staked(self) -> bool:
        return self.measure > 0

    @property
    def staked_assets(self) -> int:
        """The stake in underlying units; nothing once the position is exited."""
        return max(self.assets, 0) if self.staked else 0


def stake_key(chain_id: int, contract: str) -> str:
    return f"{chain_id}:{contract}"


def apply_stake(staking: dict[str, StakePosition], event: StakeEvent, sign: int) -> None:
    key = stake_key(event.chain_id, event.contract)
    position = staking.setdefault(key, StakePosition(standard=event.standard, underlying=event.underlying))
    direction = sign if event.action in STAKE_INCREASES else -sign
    position.assets += direction * event.assets
    position.shares += direction * (event.shares or 0)
    if event.action in STAKE_INCREASES:
        position.deposits += sign
    else:
        position.withdrawals += sign
    if position.underlying is None:
        position.underlying = event.underlying
    if position.deposits == 0 and position.withdrawals == 0:
        del staking[key]


def step_stake_times(position: StakePosition, t: int, measure_before: int, measure_after: int) -> None:
    if measure_before <= 0 < measure_after:
        position.staked_since, position.unstaked_at = t, None
    elif measure_before > 0 >= measure_after:
        position.staked_since, position.unstaked_at = None, t
