"""One chain's plan: exact mirrors of the contracts' state and the blocks of the day being planned.

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
from infra.simulator.lending import PoolMirror, Reserve
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


def token_amount(rng: random.Random, low: int, high: int) -> int:
    """A token amount with two decimals, in wei."""
    return rng.randint(low, high) * TOKEN_UNIT + rng.randint(0, 99) * TOKEN_UNIT // 100


def floor_amount(amount: int, unit: int = 10**15) -> int:
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


def weth_amount(rng: random.Random) -> int:
    return rng.randint(1, 40) * WETH_UNIT + rng.randint(0, 99) * WETH_UNIT // 100


def pick_other(rng: random.Random, pool: list[str], me: str) -> str:
    """A random member of `pool` other than `me`; pools always hold several wallets (all traders)."""
    while True:
        w = rng.choice(pool)
        if w != me:
            return w


def chunks(items: list[str], count: int) -> list[list[str]]:
    size = max(1, math.ceil(len(items) / count))
    return [items[i : i + size] for i in range(0, len(items), size)]
