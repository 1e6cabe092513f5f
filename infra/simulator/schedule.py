"""Who the wallets are and when each acts: personas, schedules and price paths, decided up front."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from infra.contracts.deploy import INITIAL_PRICES
from infra.simulator.chain_plan import (
    COLLECTOR_MIN,
    DORMANT_QUIET_DAYS,
    RECENT_DAYS,
    SUPPLY,
    VOTE_REASONS,
    ChainPlan,
    PlanError,
    token_amount,
    wallet_addresses,
    weth_amount,
)


@dataclass
class Loan:
    """A planned borrow: supply WETH and borrow USDC on `day`, sized to a health-factor target."""

    user: str
    kind: str  # borrower | borrower_repaid | liquidated | borrower_at_risk
    day: int
    collateral: int  # WETH wei
    hf_target: float  # at the lowest price the position must survive (or, for "liquidated", not)
    survive_until: int  # last day whose price sets the floor
    repay_day: int | None = None


class Schedule:
    """Wallets, their personas and schedules, and the price paths the days will follow."""

    def __init__(self, wallets: int, days: int, seed: int) -> None:
        self.n = wallets
        self.days = days
        self.seed = seed
        self.rng = random.Random(seed)
        self.wallets = wallet_addresses(wallets, seed)
        self.first_seen: dict[str, int] = {}
        self.last_activity: dict[str, int] = {}
        self.chains: list[ChainPlan] = []
        self.votes_cast: dict[str, int] = {}
        self.liquidated_users: dict[str, int] = {}  # user -> liquidation calls
        self.nft_holdings: dict[str, int] = {}
        self._assign_personas()
        self._schedule()

    # ------------------------------------------------------------------ personas

    def _assign_personas(self) -> None:
        n, rng = self.n, self.rng
        order = list(self.wallets)
        rng.shuffle(order)
        sizes = {
            "whale": max(3, round(n * 0.005)),
            "steady": max(3, round(n * 0.15)),
            "trader": max(5, round(n * 0.10)),
            "seller_exited": max(3, round(n * 0.08)),
            "dormant": max(3, round(n * 0.10)),
            "newcomer": max(2, round(n * 0.03)),
        }
        self.primary: dict[str, list[str]] = {}
        cursor = 0
        for persona, size in sizes.items():
            self.primary[persona] = order[cursor : cursor + size]
            cursor += size
        self.primary["casual"] = order[cursor:]
        if len(self.primary["casual"]) < 12:
            raise PlanError(f"{n} wallets leave too few casual members; use at least 50")
        self.persona_of = {w: p for p, members in self.primary.items() for w in members}

    def _schedule(self) -> None:
        """Draw every wallet's timeline up front, so the plan is a function of the seed alone."""
        d, rng, p = self.days, self.rng, self.primary
        self.crash_day = int(0.55 * d)
        self.decline_day = min(int(0.85 * d), d - 3)
        self.join: dict[str, int] = {}
        for w in p["whale"] + p["steady"]:
            self.join[w] = 0
        for w in p["seller_exited"] + p["dormant"]:
            self.join[w] = rng.randint(0, int(0.1 * d))
        for w in p["trader"]:
            self.join[w] = rng.randint(0, int(0.2 * d))
        for w in p["casual"]:
            self.join[w] = 0 if rng.random() < 0.4 else rng.randint(1, int(0.8 * d))
        for w in p["newcomer"]:
            self.join[w] = rng.randint(max(1, d - 7), d - 1)

        self.grant: dict[str, int] = {}
        ranges = {
            "steady": (5_000, 60_000),
            "trader": (20_000, 200_000),
            "seller_exited": (5_000, 40_000),
            "dormant": (2_000, 25_000),
            "casual": (1_000, 20_000),
            "newcomer": (500, 10_000),
        }
        for w in p["whale"]:
            self.grant[w] = SUPPLY * rng.randint(150, 350) // 10_000
        for persona, (low, high) in ranges.items():
            for w in p[persona]:
                self.grant[w] = token_amount(rng, low, high)

        self.reward_days = sorted({*range(30, d, 30), d - 2})

        # Sellers: hold, then sell out over 1-3 days; nothing after.
        self.sells: dict[int, list[tuple[str, bool]]] = {}
        for w in p["seller_exited"]:
            steps = rng.randint(1, 3)
            latest = min(int(0.75 * d), d - 1 - steps)
            earliest = min(max(self.join[w] + min(7, d // 4), int(0.3 * d)), latest)
            exit_day = rng.randint(earliest, latest)
            for i in range(steps):
                self.sells.setdefault(exit_day + i, []).append((w, i == steps - 1))

        # Dormant: a few sends early, the last on `quiet_from`, then silence.
        self.quiet_from: dict[str, int] = {}
        self.dormant_sends: dict[int, list[str]] = {}
        for w in p["dormant"]:
            last = d - DORMANT_QUIET_DAYS - 2  # two days' margin for the time of day of the blocks
            start = max(self.join[w] + 1, int(0.15 * d))
            if last >= start:
                quiet = rng.randint(start, last)
                sends = sorted({quiet, *(rng.randint(self.join[w] + 1, quiet) for _ in range(rng.randint(0, 2)))})
                for day in sends:
                    self.dormant_sends.setdefault(day, []).append(w)
            else:
                quiet = self.join[w]  # a short run: the airdrop is their only activity
            self.quiet_from[w] = quiet

        # Casual: occasional sends, always one within the last RECENT_DAYS days.
        self.casual_acts: dict[int, list[str]] = {}
        for w in p["casual"]:
            j = self.join[w]
            acts = {rng.randint(j, d - 1) for _ in range(rng.randint(1, max(1, (d - j) // 20)))}
            acts.add(rng.randint(max(j, d - RECENT_DAYS + 1), d - 1))
            for day in sorted(acts):
                self.casual_acts.setdefault(day, []).append(w)

        # Whales: big grants at launch, a few modest sends to traders later.
        self.whale_sends: dict[int, list[str]] = {}
        for w in p["whale"]:
            for _ in range(rng.randint(1, 3)):
                self.whale_sends.setdefault(rng.randint(min(3, d - 1), d - 1), []).append(w)

        self._schedule_governance()
        self._schedule_nfts()
        self._schedule_lending()
        self._schedule_cross_chain()
        self._price_paths()

    def _schedule_governance(self) -> None:
        d, rng, p = self.days, self.rng, self.primary
        count = max(4, d // 18)
        # Proposals run a week; on short runs the last one may still be open at the end.
        first, last = max(1, int(0.05 * d)), d - 8 if d >= 16 else d - 2
        count = min(count, last - first + 1)
        self.proposal_days = [first + round(i * (last - first) / (count - 1)) for i in range(count)]
        casual_voters = [w for w in p["casual"] if self.join[w] == 0]
        voters = p["whale"] + rng.sample(p["steady"], round(len(p["steady"]) * 0.35))
        voters += rng.sample(casual_voters, min(len(casual_voters), max(2, round(len(p["casual"]) * 0.06))))
        self.voters = voters
        self.votes: dict[int, list[tuple[str, int, int, str | None]]] = {}
        for voter in voters:
            chosen = [i for i in range(count) if rng.random() < (0.85 if voter in p["whale"] else 0.7)]
            for i in range(count):
                if len(chosen) >= 3:
                    break
                if i not in chosen:
                    chosen.append(i)
            if voter in p["whale"] and count - 1 not in chosen:
                chosen.append(count - 1)  # whales stay visibly active to the end
            for i in sorted(chosen):
                day = min(self.proposal_days[i] + rng.randint(0, 6), d - 1)
                support = rng.choices((0, 1, 2), weights=(20, 65, 15))[0]
                reason = rng.choice(VOTE_REASONS) if rng.random() < 0.3 else None
                self.votes.setdefault(day, []).append((voter, i, support, reason))

    def _schedule_nfts(self) -> None:
        d, rng, p = self.days, self.rng, self.primary
        early_casual = [w for w in p["casual"] if self.join[w] <= int(0.3 * d)]
        collectors = rng.sample(early_casual, min(len(early_casual), max(2, round(len(p["casual"]) * 0.08))))
        collectors += rng.sample(p["trader"], max(1, round(len(p["trader"]) * 0.1)))
        self.collectors = collectors
        self.nft_mints: dict[int, list[str]] = {}
        for w in collectors:
            j = self.join[w]
            days = [rng.randint(j, max(j, int(0.6 * d))) for _ in range(COLLECTOR_MIN)]
            days += [rng.randint(int(0.6 * d), d - 1) for _ in range(rng.randint(0, 3))]
            for day in days:
                self.nft_mints.setdefault(day, []).append(w)
        for w in p["trader"]:
            if w not in collectors and rng.random() < 0.6:
                for _ in range(rng.randint(1, 2)):
                    day = rng.randint(self.join[w], max(self.join[w], int(0.5 * d)))
                    self.nft_mints.setdefault(day, []).append(w)
        self.event_days = [day for day in range(d) if day % 30 == 10] or [d // 2]

    def _schedule_lending(self) -> None:
        d, rng = self.days, self.rng
        crash, decline = self.crash_day, self.decline_day
        taken = set(self.collectors)
        pool = [w for w in self.primary["casual"] if w not in taken]
        rng.shuffle(pool)

        def pick(count: int, latest_join: int) -> list[str]:
            chosen = [w for w in pool if self.join[w] <= latest_join][:count]
            for w in chosen:
                pool.remove(w)
            return chosen

        n = self.n
        self.lenders = pick(max(2, round(n * 0.04)), int(0.6 * d))
        self.lend_days: dict[int, list[tuple[str, str]]] = {}
        for w in self.lenders:
            day = rng.randint(self.join[w], max(self.join[w], int(0.6 * d)))
            self.lend_days.setdefault(day, []).append((w, "supply"))
            if rng.random() < 0.4 and day < d - 1:
                self.lend_days.setdefault(rng.randint(day + 1, d - 1), []).append((w, "withdraw"))
        self.loans: list[Loan] = []
        for w in pick(max(1, round(n * 0.02)), int(0.7 * d)):
            day = rng.randint(max(1, self.join[w]), int(0.7 * d))
            self.loans.append(Loan(w, "borrower", day, weth_amount(rng), rng.uniform(1.7, 2.6), d - 1))
        for w in pick(max(1, round(n * 0.02)), int(0.5 * d)):
            day = rng.randint(max(1, self.join[w]), int(0.5 * d))
            repay = min(day + rng.randint(5, 40), d - 2)
            self.loans.append(Loan(w, "borrower_repaid", day, weth_amount(rng), rng.uniform(1.6, 2.4), repay, repay))
        for w in pick(max(2, round(n * 0.015)), crash - 2):
            day = rng.randint(max(1, self.join[w]), crash - 2)
            self.loans.append(Loan(w, "liquidated", day, weth_amount(rng), rng.uniform(1.05, 1.2), crash - 1))
        for w in pick(max(2, round(n * 0.015)), decline):
            day = rng.randint(max(decline + 1, self.join[w]), d - 2)
            self.loans.append(Loan(w, "borrower_at_risk", day, weth_amount(rng), rng.uniform(1.04, 1.09), d - 1))
        self.loan_days: dict[int, list[Loan]] = {}
        for loan in self.loans:
            self.loan_days.setdefault(loan.day, []).append(loan)
        self.liquidator = self.primary["trader"][0]
        self.cleanups: dict[int, list[str]] = {}  # day -> liquidated users closing what is left

    def _schedule_cross_chain(self) -> None:
        d, rng, p = self.days, self.rng, self.primary
        candidates = p["whale"][: (len(p["whale"]) + 1) // 2]
        candidates += [w for w in p["trader"] if rng.random() < 0.4]
        candidates += [w for w in p["casual"] if self.join[w] <= int(0.4 * d) and rng.random() < 0.12]
        self.cross_chain = candidates
        self.bridge_day = {w: max(self.join[w], rng.randint(int(0.05 * d), int(0.4 * d))) for w in candidates}
        self.bridge_grant = {w: token_amount(rng, 1_000, 50_000) for w in candidates}
        self.remote_nft = {
            w: rng.randint(self.bridge_day[w], d - 1)
            for w in candidates
            if w not in self.collectors and rng.random() < 0.3
        }
        borrowers = {loan.user for loan in self.loans}
        self.remote_lenders = [w for w in candidates if w not in borrowers and rng.random() < 0.25]
        self.remote_lend_day = {w: min(d - 1, self.bridge_day[w] + rng.randint(0, 10)) for w in self.remote_lenders}

    def _price_paths(self) -> None:
        d, rng = self.days, self.rng
        weth = float(INITIAL_PRICES["weth"])
        kith = float(INITIAL_PRICES["token"])
        self.weth_price: list[int] = []
        self.kith_price: list[int] = []
        for day in range(d):
            if day == 0:
                pass
            elif day < self.crash_day:
                weth *= math.exp(rng.gauss(0.0008, 0.012))
            elif day == self.crash_day:
                weth *= 0.70
            elif day <= self.decline_day:
                weth *= math.exp(rng.gauss(0.0, 0.012))
            else:
                weth *= 0.994  # a steady slide to the end: the last day is the lowest
            kith *= math.exp(rng.gauss(0.001, 0.03)) if day else 1.0
            self.weth_price.append(int(weth))
            self.kith_price.append(max(1, int(kith)))
