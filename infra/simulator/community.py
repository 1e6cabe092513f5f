"""The community's story: who the wallets are and what each does on which day, planned block by block.

Everything is decided here, in Python, against exact mirrors of the contracts' state (token balances,
NFT owners, item balances, the lending pool), before anything is sent. That is what makes the run
deterministic and the personas trustworthy: a wallet is a "seller_exited" because the plan sold its
last token, and the run checks the chain agrees at the end.

anvil does not keep submission order across senders inside a block, so every block is planned to
have one outcome whatever that order:
- tokens received in a block can be spent only from the next block on (`ChainPlan.available`);
- NFTs and ERC-1155 items likewise; all mints come from the deployer, whose nonces fix the ids;
- prices change in a day's first block, liquidations run in the second, before the users' own
  pool calls, and a wallet liquidated today acts on the pool tomorrow;
- a proposal is created in one block and voted on from the next.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eth_abi import encode as abi_encode
from eth_utils import keccak

from infra.contracts.deploy import INITIAL_PRICES, RESERVES
from infra.simulator.lending import LIQUIDATION_HF, MAX_UINT256, PoolMirror, Reserve
from infra.simulator.txs import BLOCK_GAS_BUDGET, Tx, encode_call

DAY = 86_400
TOKEN_UNIT = 10**18
WETH_UNIT = 10**18
USDC_UNIT = 10**6
SUPPLY = 1_000_000_000 * TOKEN_UNIT
WHALE_SHARE_BPS = 100  # a whale holds at least 1% of the supply
NFT_CAP = 4  # most NFTs (ERC-721 + ERC-1155 units, all chains) a non-collector may hold
COLLECTOR_MIN = 5
DORMANT_QUIET_DAYS = 50  # the label needs 45; keep a margin
RECENT_DAYS = 30  # every wallet that is not dormant or exited acts within the last 30 days
AIRDROP_CHUNK = 250  # recipients per batchTransfer: ~7M gas, well inside a block
BATCH_CALL = "batchTransfer(address[],uint256[])"

# Gas: (limit sent with the transaction, estimate of what it uses for packing blocks).
GAS: dict[str, tuple[int, int]] = {
    "transfer": (90_000, 55_000),
    "mint20": (90_000, 70_000),
    "nft_mint": (150_000, 100_000),
    "nft_transfer": (120_000, 65_000),
    "item_mint": (110_000, 60_000),
    "item_transfer": (110_000, 60_000),
    "propose": (300_000, 160_000),
    "vote": (160_000, 95_000),
    "supply": (160_000, 110_000),
    "borrow": (320_000, 160_000),
    "repay": (110_000, 50_000),
    "withdraw": (320_000, 130_000),
    "liquidate": (420_000, 200_000),
    "rates": (90_000, 60_000),
}
PROPOSAL_TOPICS = (
    "Fund the community grants round",
    "Add a WETH/KITH liquidity incentive",
    "Elect the treasury council",
    "Adopt the membership NFT tiers",
    "Sponsor the hackathon",
    "Lower the lending pool's KITH LTV",
    "Publish quarterly treasury reports",
    "Bridge KITH to the second chain",
    "Reward long-term holders",
    "Sunset the v1 badges",
)
VOTE_REASONS = ("Good for holders", "Needs more detail", "Long overdue", "Too expensive", "Aligned with the roadmap")


class PlanError(RuntimeError):
    """The plan broke one of its own ground-truth rules: a bug in the simulator, never in the chain."""


def wallet_addresses(count: int, seed: int) -> list[str]:
    """Deterministic, key-less wallet addresses: anvil impersonation lets them send without keys."""
    return ["0x" + keccak(text=f"kith-simulator:{seed}:{i}")[12:].hex() for i in range(count)]


def _tokens(rng: random.Random, low: int, high: int) -> int:
    """A token amount with two decimals, in wei."""
    return rng.randint(low, high) * TOKEN_UNIT + rng.randint(0, 99) * TOKEN_UNIT // 100


def _floor(amount: int, unit: int = 10**15) -> int:
    return amount // unit * unit


@dataclass
class Block:
    timestamp: int
    txs: list[Tx] = field(default_factory=list)
    gas: int = 0


@dataclass
class ChainPlan:
    """One chain: its contracts, exact mirrors of their state, and the blocks of the day being planned."""

    chain_id: int
    contracts: dict[str, str]
    rng: random.Random
    touch: Callable[[str, int], None]  # records a wallet's activity at a timestamp
    nft_holdings: dict[str, int]  # shared by all chains: ERC-721 tokens + ERC-1155 units per wallet
    balances: dict[str, int] = field(default_factory=dict)
    incoming: dict[str, int] = field(default_factory=dict)  # received in the open block
    sent: dict[str, int] = field(default_factory=dict)  # outgoing token transfers per wallet
    nft_owner: dict[int, str] = field(default_factory=dict)
    nfts_of: dict[str, list[int]] = field(default_factory=dict)
    nft_fresh: dict[int, bool] = field(default_factory=dict)  # received in the open block
    minted: int = 0
    items: dict[tuple[int, str], int] = field(default_factory=dict)  # (id, holder) -> units
    items_incoming: dict[tuple[int, str], int] = field(default_factory=dict)
    pool: PoolMirror = field(init=False)
    proposals: list[int] = field(default_factory=list)  # ids, in creation order
    blocks: list[Block] = field(default_factory=list)
    _day_start: int = 0
    _slot: int = 0
    _last_ts: int = 0

    def __post_init__(self) -> None:
        c = self.contracts
        self.treasury = c["treasury"]
        reserves = [
            Reserve(c[role], i, decimals, ltv, threshold, bonus)
            for i, (role, (decimals, ltv, threshold, bonus)) in enumerate(RESERVES.items())
        ]
        self.pool = PoolMirror(reserves)
        for role, price in INITIAL_PRICES.items():
            self.pool.prices[c[role]] = price

    # ------------------------------------------------------------------ blocks

    def open_day(self, day_start: int) -> None:
        self.blocks = []
        self._day_start = day_start
        self._slot = 0
        self.new_block()

    def new_block(self) -> None:
        """Close the open block (its received tokens become spendable) and open the next one."""
        if self.blocks and not self.blocks[-1].txs:
            return  # reuse an empty block rather than leave a hole in the day
        when = self._day_start + 6 * 3600 + self._slot * 9_000 + self.rng.randint(0, 3_000)
        if when <= self._last_ts or when > self._day_start + DAY - 600:
            when = self._last_ts + 12
        self._slot += 1
        self._last_ts = when
        self.blocks.append(Block(when))
        self.incoming.clear()
        self.nft_fresh.clear()
        self.items_incoming.clear()

    @property
    def now(self) -> int:
        return self.blocks[-1].timestamp

    def add(self, kind: str, sender: str, to: str, data: str, logs: int, gas: tuple[int, int] | None = None) -> None:
        limit, estimate = gas or GAS[kind]
        if self.blocks[-1].gas + estimate > BLOCK_GAS_BUDGET:
            self.new_block()
        block = self.blocks[-1]
        block.txs.append(Tx(sender, to, data, limit, logs))
        block.gas += estimate

    # ------------------------------------------------------------------ ERC-20

    def available(self, wallet: str) -> int:
        return self.balances.get(wallet, 0) - self.incoming.get(wallet, 0)

    def _credit(self, wallet: str, amount: int) -> None:
        self.balances[wallet] = self.balances.get(wallet, 0) + amount
        self.incoming[wallet] = self.incoming.get(wallet, 0) + amount

    def mint_supply(self, amount: int) -> None:
        data = encode_call("mint(address,uint256)", self.treasury, amount)
        self.add("mint20", self.treasury, self.contracts["token"], data, 1)
        self.balances[self.treasury] = self.balances.get(self.treasury, 0) + amount

    def airdrop(self, grants: Sequence[tuple[str, int]]) -> None:
        """Treasury pays many wallets via batchTransfer, a chunk per transaction, one Transfer each."""
        for start in range(0, len(grants), AIRDROP_CHUNK):
            chunk = grants[start : start + AIRDROP_CHUNK]
            total = sum(a for _, a in chunk)
            if total > self.available(self.treasury):
                raise PlanError("the treasury cannot pay this airdrop")
            data = encode_call(BATCH_CALL, [w for w, _ in chunk], [a for _, a in chunk])
            n = len(chunk)
            gas = (80_000 + 36_000 * n, 40_000 + 30_000 * n)
            self.add("batch", self.treasury, self.contracts["token"], data, n, gas)
            self.balances[self.treasury] -= total
            for wallet, amount in chunk:
                self._credit(wallet, amount)
                self.touch(wallet, self.now)

    def transfer(self, sender: str, to: str, amount: int) -> None:
        if amount <= 0 or amount > self.available(sender) or sender == to:
            raise PlanError(f"invalid transfer {sender} -> {to} of {amount}")
        self.add("transfer", sender, self.contracts["token"], encode_call("transfer(address,uint256)", to, amount), 1)
        self.balances[sender] -= amount
        self._credit(to, amount)
        self.sent[sender] = self.sent.get(sender, 0) + 1
        self.touch(sender, self.now)
        self.touch(to, self.now)

    # ------------------------------------------------------------------ ERC-721

    def nft_mint(self, to: str) -> int:
        # The deployer mints for everyone so the ids follow its nonce order, whatever anvil's order.
        self.add("nft_mint", self.treasury, self.contracts["collection"], encode_call("mint(address)", to), 1)
        self.minted += 1
        token_id = self.minted
        self.nft_owner[token_id] = to
        self.nfts_of.setdefault(to, []).append(token_id)
        self.nft_fresh[token_id] = True
        self._hold(to, 1)
        self.touch(to, self.now)
        return token_id

    def nft_tradeable(self, wallet: str) -> list[int]:
        return [t for t in self.nfts_of.get(wallet, []) if t not in self.nft_fresh]

    def nft_transfer(self, sender: str, to: str, token_id: int) -> None:
        if self.nft_owner.get(token_id) != sender or token_id in self.nft_fresh:
            raise PlanError(f"{sender} cannot move NFT {token_id} in this block")
        signature = self.rng.choice(
            ("transferFrom(address,address,uint256)", "safeTransferFrom(address,address,uint256)")
        )
        self.add("nft_transfer", sender, self.contracts["collection"], encode_call(signature, sender, to, token_id), 1)
        self.nft_owner[token_id] = to
        self.nfts_of[sender].remove(token_id)
        self.nfts_of.setdefault(to, []).append(token_id)
        self.nft_fresh[token_id] = True
        self._hold(sender, -1)
        self._hold(to, 1)
        self.touch(sender, self.now)
        self.touch(to, self.now)

    # ------------------------------------------------------------------ ERC-1155

    def _hold(self, wallet: str, units: int) -> None:
        self.nft_holdings[wallet] = self.nft_holdings.get(wallet, 0) + units

    def _item_credit(self, item_id: int, wallet: str, units: int) -> None:
        self._hold(wallet, units)
        key = (item_id, wallet)
        self.items[key] = self.items.get(key, 0) + units
        self.items_incoming[key] = self.items_incoming.get(key, 0) + units

    def item_available(self, item_id: int, wallet: str) -> int:
        key = (item_id, wallet)
        return self.items.get(key, 0) - self.items_incoming.get(key, 0)

    def item_mint(self, to: str, item_id: int, units: int) -> None:
        data = encode_call("mint(address,uint256,uint256)", to, item_id, units)
        self.add("item_mint", self.treasury, self.contracts["items"], data, 1)
        self._item_credit(item_id, to, units)
        self.touch(to, self.now)

    def item_mint_batch(self, to: str, ids: list[int], units: list[int]) -> None:
        data = encode_call("mintBatch(address,uint256[],uint256[])", to, ids, units)
        n = len(ids)
        gas = (90_000 + 40_000 * n, 50_000 + 27_000 * n)
        self.add("batch1155", self.treasury, self.contracts["items"], data, 1, gas)
        for item_id, value in zip(ids, units, strict=True):
            self._item_credit(item_id, to, value)
        self.touch(to, self.now)

    def item_transfer(self, sender: str, to: str, ids: list[int], units: list[int]) -> None:
        for item_id, value in zip(ids, units, strict=True):
            if value > self.item_available(item_id, sender):
                raise PlanError(f"{sender} cannot move {value} of item {item_id} in this block")
        if len(ids) == 1:
            data = encode_call(
                "safeTransferFrom(address,address,uint256,uint256,bytes)", sender, to, ids[0], units[0], b""
            )
            self.add("item_transfer", sender, self.contracts["items"], data, 1)
        else:
            data = encode_call(
                "safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)", sender, to, ids, units, b""
            )
            n = len(ids)
            self.add("batch1155", sender, self.contracts["items"], data, 1, (90_000 + 40_000 * n, 50_000 + 30_000 * n))
        for item_id, value in zip(ids, units, strict=True):
            self.items[(item_id, sender)] -= value
            self._hold(sender, -value)
            self._item_credit(item_id, to, value)
        self.touch(sender, self.now)
        self.touch(to, self.now)

    # ------------------------------------------------------------------ governance

    def propose(self, proposer: str, description: str) -> int:
        count = len(self.proposals) + 1
        proposal_id = int.from_bytes(
            keccak(
                abi_encode(
                    ["uint256", "address", "uint256", "string"],
                    [self.chain_id, self.contracts["governor"], count, description],
                )
            ),
            "big",
        )
        self.add("propose", proposer, self.contracts["governor"], encode_call("propose(string)", description), 1)
        self.proposals.append(proposal_id)
        self.touch(proposer, self.now)
        return proposal_id

    def vote(self, voter: str, proposal_id: int, support: int, reason: str | None) -> None:
        if reason is None:
            data = encode_call("castVote(uint256,uint8)", proposal_id, support)
        else:
            data = encode_call("castVoteWithReason(uint256,uint8,string)", proposal_id, support, reason)
        self.add("vote", voter, self.contracts["governor"], data, 1)
        self.touch(voter, self.now)

    # ------------------------------------------------------------------ oracle and pool

    def set_prices(self, prices: dict[str, int]) -> None:
        assets = [self.contracts[role] for role in prices]
        data = encode_call("setAssetPrices(address[],uint256[])", assets, list(prices.values()))
        n = len(assets)
        self.add("prices", self.treasury, self.contracts["oracle"], data, n, (60_000 + 35_000 * n, 30_000 + 12_000 * n))
        for asset, price in zip(assets, prices.values(), strict=True):
            self.pool.prices[asset] = price

    def update_rates(self) -> None:
        for reserve in self.pool.reserves:
            liquidity, variable = self.pool.utilization_rates(reserve.asset)
            data = encode_call("setReserveRates(address,uint256,uint256)", reserve.asset, liquidity, variable)
            self.add("rates", self.treasury, self.contracts["pool"], data, 1)
            self.pool.rates[reserve.asset] = (liquidity, variable)

    def supply(self, user: str, role: str, amount: int) -> None:
        asset = self.contracts[role]
        logs = self.pool.supply(asset, user, amount)
        data = encode_call("supply(address,uint256,address,uint16)", asset, amount, user, 0)
        self.add("supply", user, self.contracts["pool"], data, logs)
        self.touch(user, self.now)

    def borrow(self, user: str, role: str, amount: int) -> None:
        asset = self.contracts[role]
        logs = self.pool.borrow(asset, user, amount)
        data = encode_call("borrow(address,uint256,uint256,uint16,address)", asset, amount, 2, 0, user)
        self.add("borrow", user, self.contracts["pool"], data, logs)
        self.touch(user, self.now)

    def repay(self, user: str, role: str, amount: int) -> None:
        asset = self.contracts[role]
        _, logs = self.pool.repay(asset, user, amount)
        data = encode_call("repay(address,uint256,uint256,address)", asset, amount, 2, user)
        self.add("repay", user, self.contracts["pool"], data, logs)
        self.touch(user, self.now)

    def withdraw(self, user: str, role: str, amount: int) -> None:
        asset = self.contracts[role]
        _, logs = self.pool.withdraw(asset, user, amount)
        data = encode_call("withdraw(address,uint256,address)", asset, amount, user)
        self.add("withdraw", user, self.contracts["pool"], data, logs)
        self.touch(user, self.now)

    def liquidate(self, liquidator: str, user: str) -> None:
        weth, usdc = self.contracts["weth"], self.contracts["usdc"]
        debt = self.pool.borrowed.get((usdc, user), 0)
        result = self.pool.liquidate(weth, usdc, user, debt)
        data = encode_call("liquidationCall(address,address,address,uint256,bool)", weth, usdc, user, debt, False)
        self.add("liquidate", liquidator, self.contracts["pool"], data, result.logs)
        self.touch(user, self.now)
        self.touch(liquidator, self.now)


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


class Community:
    """Wallets, personas and schedules, and the day-by-day plan over one or more chains."""

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
                self.grant[w] = _tokens(rng, low, high)

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
            self.loans.append(Loan(w, "borrower", day, _weth(rng), rng.uniform(1.7, 2.6), d - 1))
        for w in pick(max(1, round(n * 0.02)), int(0.5 * d)):
            day = rng.randint(max(1, self.join[w]), int(0.5 * d))
            repay = min(day + rng.randint(5, 40), d - 2)
            self.loans.append(Loan(w, "borrower_repaid", day, _weth(rng), rng.uniform(1.6, 2.4), repay, repay))
        for w in pick(max(2, round(n * 0.015)), crash - 2):
            day = rng.randint(max(1, self.join[w]), crash - 2)
            self.loans.append(Loan(w, "liquidated", day, _weth(rng), rng.uniform(1.05, 1.2), crash - 1))
        for w in pick(max(2, round(n * 0.015)), decline):
            day = rng.randint(max(decline + 1, self.join[w]), d - 2)
            self.loans.append(Loan(w, "borrower_at_risk", day, _weth(rng), rng.uniform(1.04, 1.09), d - 1))
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
        self.bridge_grant = {w: _tokens(rng, 1_000, 50_000) for w in candidates}
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
        amount = _floor(int(c.available(sender) * self.rng.uniform(low, high)))
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
            amount = balance if final else _floor(balance * rng.randint(30, 60) // 100)
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
            self._send_share(c, w, _pick_other(self.rng, recipients, w), 0.05, 0.25)
        elif kind == "casual":
            self._send_share(c, w, _pick_other(self.rng, recipients, w), 0.05, 0.4)
        elif kind == "dormant":
            self._send_share(c, w, _pick_other(self.rng, recipients, w), 0.05, 0.3)
        elif kind == "whale":
            amount = _floor(SUPPLY * rng.randint(5, 30) // 100_000)
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
        for i, chunk in enumerate(_chunks(movers, 2)):
            if i:
                c.new_block()
            for w in chunk:
                self._send_share(c, w, _pick_other(rng, active, w), 0.05, 0.25)

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


def _weth(rng: random.Random) -> int:
    return rng.randint(1, 40) * WETH_UNIT + rng.randint(0, 99) * WETH_UNIT // 100


def _pick_other(rng: random.Random, pool: list[str], me: str) -> str:
    """A random member of `pool` other than `me`; pools always hold several wallets (all traders)."""
    while True:
        w = rng.choice(pool)
        if w != me:
            return w


def _chunks(items: list[str], count: int) -> list[list[str]]:
    size = max(1, math.ceil(len(items) / count))
    return [items[i : i + size] for i in range(0, len(items), size)]
