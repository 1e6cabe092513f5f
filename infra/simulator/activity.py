"""Every wallet's active days in the simulator's plan, played in Python without a chain: what the churn
benchmark and the persona tests score, the same plan `make run` mines."""

from __future__ import annotations

from infra.simulator.community import Community

DAY = 86_400
# the contracts of each chain, in the order the deployment gives them addresses
ROLES = ("treasury", "token", "collection", "governor", "items", "oracle", "pool", "usdc", "weth")
CHAIN_IDS = (31337, 31338)


def planned_activity(wallets: int, days: int, seed: int, day_zero: int) -> tuple[Community, dict[str, set[int]]]:
    """The planned community, and each wallet's active UTC day numbers, over `days` from `day_zero`."""
    community = Community(wallets, days, seed)
    active: dict[str, set[int]] = {}

    def touch(wallet: str, timestamp: int) -> None:
        community.first_seen.setdefault(wallet, timestamp)
        community.last_activity[wallet] = timestamp
        active.setdefault(wallet, set()).add(timestamp // DAY)

    community.touch = touch  # type: ignore[method-assign]
    for number, chain_id in enumerate(CHAIN_IDS):
        contracts = {role: f"0x{number + 1:02x}{index + 1:038x}" for index, role in enumerate(ROLES)}
        community.add_chain(chain_id, contracts)
    for day in range(days):
        community.plan_day(day, day_zero + day * DAY)
    return community, active
