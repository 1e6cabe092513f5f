"""The community's story: who the wallets are and what each does on which day, planned block by block.

Everything is decided here, in Python, against exact mirrors of the contracts' state (token balances,
NFT owners, item balances, the lending pool), before anything is sent. That is what makes the run
deterministic and the personas trustworthy: a wallet is a "seller_exited" because the plan sold its
last token, and the run checks the chain agrees at the end.

Personas and schedules live in `schedule`, one chain's mirrors and blocks in `chain_plan`; the block
ordering rules are described there.
"""

from __future__ import annotations

import math

from infra.contracts.deploy import INITIAL_PRICES, RESERVES
from infra.simulator.chain_plan import (
    COLLECTOR_MIN,
    DAY,
    DORMANT_QUIET_DAYS,
    NFT_CAP,
    PROPOSAL_TOPICS,
    RECENT_DAYS,
    SUPPLY,
    USDC_UNIT,
    WETH_UNIT,
    WHALE_SHARE_BPS,
    ChainPlan,
    PlanError,
    chunks,
    floor_amount,
    pick_other,
    wallet_addresses,
)
from infra.simulator.lending import LIQUIDATION_HF, MAX_UINT256
from infra.simulator.schedule import Loan, Schedule

__all__ = ["DAY", "ChainPlan", "Community", "Loan", "PlanError", "wallet_addresses"]


class Community(Schedule):
    """Wallets, personas and schedules, and the day-by-day plan over one or more chains."""

    # ------------------------------------------------------------------ chains

    def touch(self, wallet: str, timestamp: int) -> None:
        self.first_seen.setdefault(wallet, timestamp)
        self.last_activity[wallet] = timestamp

    def add_chain(self, chain_id: int, contracts: dict[str, str]) -> ChainPlan:
        def touch(wallet: str, timestamp: int) -> None:
            if wallet in self.persona_of:
                self.touch(wallet, timestamp)

        chain = ChainPlan(chain_id, contracts, self.rng, touch, self.nft_holdings)
        self.chains.append(chain)
        return chain

    def plan_day(self, day: int, day_start: int) -> None:
        for chain in self.chains:
            chain.open_day(day_start)
        main = self.chains[0]
        self._admin(main, day)
        main.new_block()
        self._pool_and_votes(main, day)
        self._user_actions(main, day)
        for remote in self.chains[1:]:
            self._remote_day(remote, day)

    # ------------------------------------------------------------------ the main chain's day

    def _admin(self, c: ChainPlan, day: int) -> None:
        p = self.primary
        if day == 0:
            c.mint_supply(SUPPLY)
            c.update_rates()
        c.set_prices({"weth": self.weth_price[day], "token": self.kith_price[day]})
        if day and day % 7 == 0:
            c.update_rates()
        grants = [(w, self.grant[w]) for w in self.wallets if self.join.get(w) == day]
        if day in self.reward_days:
            grants += [(w, self.grant[w] * 2 // 100) for w in p["steady"]]
        if grants:
            c.airdrop(grants)
        for w in self.nft_mints.get(day, []):
            if w in self.collectors or self._nft_count(w) < NFT_CAP:
                c.nft_mint(w)
        if day in self.event_days:
            ticket = 1 + (day // 30) % 3
            candidates = [
                w
                for w in p["trader"] + p["casual"]
                if self.join[w] <= day and w not in self.collectors and self._nft_count(w) < NFT_CAP
            ]
            for w in self.rng.sample(candidates, min(len(candidates), max(3, self.n // 20))):
                c.item_mint(w, ticket, 1)
            for w in self.collectors:
                c.item_mint_batch(w, [4, 5, 6], [1, self.rng.randint(1, 3), 1])
        if day in self.proposal_days:
            i = self.proposal_days.index(day)
            proposer = p["whale"][i % len(p["whale"])]
            c.propose(proposer, f"KIP-{i + 1}: {PROPOSAL_TOPICS[i % len(PROPOSAL_TOPICS)]}")

    def _pool_and_votes(self, c: ChainPlan, day: int) -> None:
        usdc = c.contracts["usdc"]
        acted_today: set[str] = set()
        # Liquidations first: they see today's prices, and no liquidated wallet acts in this block.
        for user in sorted({u for (a, u) in c.pool.borrowed if a == usdc and c.pool.borrowed[(a, u)] > 0}):
            calls = 0
            while (
                c.pool.health_factor(user) < LIQUIDATION_HF
                and c.pool.borrowed.get((usdc, user), 0) > 0
                and c.pool.supplied.get((c.contracts["weth"], user), 0) > 0
                and calls < 5
            ):
                c.liquidate(self.liquidator, user)
                calls += 1
            if calls:
                self.liquidated_users[user] = self.liquidated_users.get(user, 0) + calls
                acted_today.add(user)
                cleanup = min(self.days - 1, day + self.rng.randint(2, 5))
                if cleanup > day:
                    self.cleanups.setdefault(cleanup, []).append(user)
        for user in self.cleanups.pop(day, []):
            if user in acted_today:
                self.cleanups.setdefault(day + 1, []).append(user)
                continue
            debt = c.pool.borrowed.get((usdc, user), 0)
            if debt:
                c.repay(user, "usdc", debt)
            if c.pool.supplied.get((c.contracts["weth"], user), 0):
                c.withdraw(user, "weth", MAX_UINT256)
        for loan in self.loan_days.get(day, []):
            self._open_loan(c, loan)
        for loan in self.loans:
            if loan.repay_day == day and loan.user not in self.liquidated_users:
                debt = c.pool.borrowed.get((usdc, loan.user), 0)
                if debt:
                    c.repay(loan.user, "usdc", debt)
                    c.withdraw(loan.user, "weth", MAX_UINT256)
        for user, action in self.lend_days.get(day, []):
            if action == "supply":
                c.supply(user, "usdc", self.rng.randint(1_000, 200_000) * USDC_UNIT)
            else:
                balance = c.pool.supplied.get((usdc, user), 0)
                if balance:
                    c.withdraw(user, "usdc", balance * self.rng.randint(20, 60) // 100)
        for voter, index, support, reason in self.votes.get(day, []):
            c.vote(voter, c.proposals[index], support, reason)
            self.votes_cast[voter] = self.votes_cast.get(voter, 0) + 1

    def _open_loan(self, c: ChainPlan, loan: Loan) -> None:
        floor_price = min(self.weth_price[loan.day : loan.survive_until + 1])
        collateral_base = loan.collateral * floor_price // WETH_UNIT
        debt_base = collateral_base * RESERVES["weth"][2] // 10_000 * 10_000 // round(loan.hf_target * 10_000)
        amount = debt_base * USDC_UNIT // INITIAL_PRICES["usdc"]
        c.supply(loan.user, "weth", loan.collateral)
        while not c.pool.can_borrow(c.contracts["usdc"], loan.user, amount):
            amount = amount * 95 // 100  # the LTV caps a borrow below the liquidation threshold
        c.borrow(loan.user, "usdc", amount)

    def _recipients(self, day: int) -> list[str]:
        p = self.primary
        pool = [w for w in p["trader"] + p["casual"] if self.join[w] <= day]
        # Dormant wallets take part only until they go quiet (and only if they ever do anything).
        pool += [w for w in p["dormant"] if self.join[w] <= day <= self.quiet_from[w] != self.join[w]]
        return pool

    def _send_share(self, c: ChainPlan, sender: str, to: str, low: float, high: float) -> bool:
        amount = floor_amount(int(c.available(sender) * self.rng.uniform(low, high)))
        if amount <= 0:
            return False
        c.transfer(sender, to, amount)
        return True

    def _user_actions(self, c: ChainPlan, day: int) -> None:
        rng, p = self.rng, self.primary
        recipients = self._recipients(day)
        actions: list[tuple[str, str]] = []
        for w in p["trader"]:
            if self.join[w] <= day:
                if rng.random() < 0.35:
                    actions.append(("trade", w))
                if rng.random() < 0.06 and w not in self.collectors:
                    actions.append(("nft_trade", w))
                if rng.random() < 0.08 and w not in self.collectors:
                    actions.append(("item_trade", w))
        actions += [("casual", w) for w in self.casual_acts.get(day, [])]
        actions += [("dormant", w) for w in self.dormant_sends.get(day, [])]
        actions += [("whale", w) for w in self.whale_sends.get(day, [])]
        rng.shuffle(actions)
        c.new_block()
        # Sells open the block: a seller receives nothing, so its whole balance is free to go.
        for seller, final in self.sells.get(day, []):
            balance = c.available(seller)
            if balance <= 0 or c.balances.get(seller, 0) != balance:
                raise PlanError(f"seller {seller} has nothing free to sell on day {day}")
            amount = balance if final else floor_amount(balance * rng.randint(30, 60) // 100)
            c.transfer(seller, rng.choice(p["trader"]), amount)
        size = max(1, math.ceil(len(actions) / rng.randint(1, 3)))
        for start in range(0, len(actions), size):
            if start:
                c.new_block()
            for kind, w in actions[start : start + size]:
                self._act(c, day, kind, w, recipients)

    def _act(self, c: ChainPlan, day: int, kind: str, w: str, recipients: list[str]) -> None:
        rng, p = self.rng, self.primary
        if kind == "trade":
            self._send_share(c, w, pick_other(self.rng, recipients, w), 0.05, 0.25)
        elif kind == "casual":
            self._send_share(c, w, pick_other(self.rng, recipients, w), 0.05, 0.4)
        elif kind == "dormant":
            self._send_share(c, w, pick_other(self.rng, recipients, w), 0.05, 0.3)
        elif kind == "whale":
            amount = floor_amount(SUPPLY * rng.randint(5, 30) // 100_000)
            if c.available(w) - amount >= SUPPLY * WHALE_SHARE_BPS // 10_000 + SUPPLY // 500:
                c.transfer(w, rng.choice(p["trader"]), amount)
        elif kind == "nft_trade":
            owned = c.nft_tradeable(w)
            targets = [t for t in p["trader"] if t != w and t not in self.collectors and self.join[t] <= day]
            targets = [t for t in targets if self._nft_count(t) < NFT_CAP]
            if owned and targets:
                c.nft_transfer(w, rng.choice(targets), rng.choice(owned))
        elif kind == "item_trade":
            held = [i for i in range(1, 7) if c.item_available(i, w) > 0]
            targets = [t for t in p["trader"] if t != w and t not in self.collectors and self.join[t] <= day]
            if not held or not targets:
                return
            to = rng.choice(targets)
            room = NFT_CAP - self._nft_count(to)
            ids = held[:2] if len(held) >= 2 and rng.random() < 0.5 else [rng.choice(held)]
            if room >= len(ids):
                c.item_transfer(w, to, ids, [1] * len(ids))

    def _nft_count(self, wallet: str) -> int:
        return self.nft_holdings.get(wallet, 0)

    # ------------------------------------------------------------------ second (and further) chains

    def _remote_day(self, c: ChainPlan, day: int) -> None:
        rng = self.rng
        if day == 0:
            c.mint_supply(SUPPLY)
            c.update_rates()
        if day % 7 == 0:
            c.set_prices({"weth": self.weth_price[day], "token": self.kith_price[day]})
            if day:
                c.update_rates()
        arrivals = [(w, self.bridge_grant[w]) for w in self.cross_chain if self.bridge_day[w] == day]
        if arrivals:
            c.airdrop(arrivals)
        for w, mint_day in self.remote_nft.items():
            if mint_day == day and self._nft_count(w) < NFT_CAP:
                c.nft_mint(w)
        if day in self.event_days:
            for w in self.cross_chain:
                eligible = self.bridge_day[w] <= day and w not in self.collectors and self._nft_count(w) < NFT_CAP
                if eligible and rng.random() < 0.2:
                    c.item_mint(w, 1, 1)
        c.new_block()
        for w in self.remote_lenders:
            if self.remote_lend_day[w] == day:
                c.supply(w, "usdc", rng.randint(500, 50_000) * USDC_UNIT)
            elif day > self.remote_lend_day[w] and rng.random() < 0.01:
                balance = c.pool.supplied.get((c.contracts["usdc"], w), 0)
                if balance:
                    c.withdraw(w, "usdc", balance // 3)
        active = [w for w in self.cross_chain if self.bridge_day[w] <= day]
        movers = [w for w in active if rng.random() < 0.2]
        if len(active) < 2:
            return
        for i, chunk in enumerate(chunks(movers, 2)):
            if i:
                c.new_block()
            for w in chunk:
                self._send_share(c, w, pick_other(rng, active, w), 0.05, 0.25)

    # ------------------------------------------------------------------ ground truth

    def personas(self) -> dict[str, list[str]]:
        """Persona -> sorted wallets, from what the plan actually did (checked by `check_ground_truth`)."""
        main = self.chains[0]
        usdc = main.contracts["usdc"]
        lending: dict[str, list[str]] = {
            "borrower": [],
            "borrower_repaid": [],
            "borrower_at_risk": [],
            "liquidated": [],
        }
        for loan in self.loans:
            debt = main.pool.borrowed.get((usdc, loan.user), 0)
            hf = main.pool.health_factor(loan.user)
            if loan.user in self.liquidated_users:
                lending["liquidated"].append(loan.user)
            elif debt and LIQUIDATION_HF <= hf < 11 * 10**17:
                lending["borrower_at_risk"].append(loan.user)
            elif debt and hf >= 15 * 10**17:
                lending["borrower"].append(loan.user)
            elif not debt and loan.kind == "borrower_repaid":
                lending["borrower_repaid"].append(loan.user)
            else:
                raise PlanError(f"loan of {loan.user} ({loan.kind}) ended ambiguous: debt {debt}, hf {hf}")
        result = {name: sorted(members) for name, members in self.primary.items()}
        result["voter"] = sorted(w for w in self.voters if self.votes_cast.get(w, 0) >= 3)
        result["collector"] = sorted(self.collectors)
        result["lender"] = sorted(set(self.lenders) | set(self.remote_lenders))
        result.update({name: sorted(members) for name, members in lending.items()})
        result["liquidator"] = [self.liquidator] if self.liquidated_users else []
        result["cross_chain"] = sorted(self.cross_chain) if len(self.chains) > 1 else []
        return result

    def check_ground_truth(self, end_time: int) -> None:
        """Fail loudly if any persona is not behaviourally what its definition says."""
        main = self.chains[0]
        personas = self.personas()
        whale_floor = SUPPLY * WHALE_SHARE_BPS // 10_000
        problems: list[str] = []
        for w in self.wallets:
            balance = main.balances.get(w, 0)
            if (balance >= whale_floor) != (self.persona_of[w] == "whale"):
                problems.append(f"{w} holds {balance} (whale floor {whale_floor}) as {self.persona_of[w]}")
        for w in personas["steady"]:
            if any(c.sent.get(w) for c in self.chains):
                problems.append(f"steady {w} sent tokens")
        for w in personas["seller_exited"]:
            if main.balances.get(w, 0) != 0 or not main.sent.get(w):
                problems.append(f"seller {w} did not exit")
        quiet_needed = DORMANT_QUIET_DAYS * DAY if self.days > DORMANT_QUIET_DAYS + 20 else 0
        for w in personas["dormant"]:
            if main.balances.get(w, 0) <= 0 or end_time - self.last_activity[w] < quiet_needed:
                problems.append(f"dormant {w} is not dormant")
        for persona in ("whale", "steady", "trader", "casual", "newcomer"):
            for w in personas[persona]:
                if end_time - self.last_activity.get(w, 0) > RECENT_DAYS * DAY:
                    problems.append(f"{persona} {w} has been quiet since {self.last_activity.get(w)}")
        voters = set(personas["voter"])
        for w in self.wallets:
            if (w in voters) != (self.votes_cast.get(w, 0) >= 3) or (w not in voters and self.votes_cast.get(w)):
                problems.append(f"{w} voted {self.votes_cast.get(w, 0)} times")
        collectors = set(personas["collector"])
        for w in self.wallets:
            erc721 = sum(len(c.nfts_of.get(w, [])) for c in self.chains)
            if w in collectors and erc721 < COLLECTOR_MIN:
                problems.append(f"collector {w} holds {erc721} NFTs")
            if w not in collectors and self._nft_count(w) > NFT_CAP:
                problems.append(f"{w} holds {self._nft_count(w)} NFTs without being a collector")
        usdc = main.contracts["usdc"]
        for w in personas["liquidated"]:
            if main.pool.borrowed.get((usdc, w), 0):
                problems.append(f"liquidated {w} still owes {main.pool.borrowed[(usdc, w)]}")
        if self.days >= 60:
            for w in personas["trader"]:
                if main.sent.get(w, 0) < self.days // 10:
                    problems.append(f"trader {w} sent only {main.sent.get(w, 0)} times")
        if len(self.proposal_days) >= 3 and not voters:
            problems.append("nobody voted")
        if not personas["liquidated"] or not personas["borrower_at_risk"]:
            problems.append("the lending story lacks a liquidation or an at-risk position")
        if problems:
            raise PlanError("ground truth violated: " + "; ".join(problems[:10]))
