"""A wallet's lending records as its derivation reads them: positions, health records, the summary.

They live in the wallet's partition (docs/architecture.md, "Key shapes"), so shared.intel.load_wallet
picks them up in the Query it already makes, and the loyalty formula and the segment facts are computed from them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shared.events import Standard
from shared.lending.model import PoolPosition
from shared.lending.store import HEALTH_CODEC, POSITION_CODEC, SUMMARY_CODEC, HealthRecord, LendingSummary
from shared.loyalty import LoyaltyInputs
from shared.profiles.model import Holding, WalletProfile
from shared.store import keys


@dataclass
class LendingRecords:
    positions: list[PoolPosition] = field(default_factory=list)
    health: list[HealthRecord] = field(default_factory=list)
    summary: LendingSummary | None = None

    def absorb(self, sk: str, raw: dict[str, Any]) -> bool:
        """Take a typed wallet-partition item if it is a lending record; False when it is not."""
        kind = keys.wallet_item_kind(sk)
        if kind == "lending_position":
            self.positions.append(POSITION_CODEC.decode(raw))
        elif kind == "health":
            self.health.append(HEALTH_CODEC.decode(raw))
        elif kind == "lending_summary":
            self.summary = SUMMARY_CODEC.decode(raw)
        else:
            return False
        return True

    @property
    def borrowing(self) -> list[HealthRecord]:
        """Health records of positions that owe something (the only ones with a meaningful band)."""
        return [h for h in self.health if h.health_factor is not None]

    @property
    def bands(self) -> list[tuple[int, str]]:
        return sorted((h.chain_id, h.band) for h in self.borrowing)

    @property
    def min_health_factor(self) -> float | None:
        return min((h.health_factor for h in self.borrowing if h.health_factor is not None), default=None)

    @property
    def liquidated_at(self) -> int | None:
        return max((t for p in self.positions if (t := p.liquidated_at) is not None), default=None)

    @property
    def first_warned_at(self) -> int | None:
        times = [h.first_warned_at for h in self.health if h.first_warned_at is not None]
        if self.summary is not None and self.summary.first_warned_at is not None:
            times.append(self.summary.first_warned_at)
        return min(times, default=None)


def erc20_volume(holdings: Iterable[Holding]) -> float:
    return sum((h.in_volume + h.out_volume) / 10 ** (h.decimals or 0) for h in holdings if h.standard == Standard.ERC20)


def loyalty_inputs(profile: WalletProfile, holdings: Iterable[Holding], records: LendingRecords) -> LoyaltyInputs:
    holdings = list(holdings)
    volume = erc20_volume(holdings)
    return LoyaltyInputs(
        holding_since=tuple(
            sorted(
                h.holding_since
                for h in holdings
                if h.standard == Standard.ERC20 and h.balance > 0 and h.holding_since is not None
            )
        ),
        volume=volume if math.isfinite(volume) else 0.0,
        votes=max(profile.votes, 0),
        repays=tuple(sorted(t for p in records.positions for t in p.repays.values())),
        first_warned_at=records.first_warned_at,
        liquidated=profile.liquidations > 0 or records.liquidated_at is not None,
        borrower=any(p.repays or p.debt_assets or p.liquidations for p in records.positions),
    )
