"""Run the community simulation against one or more anvil chains and record the ground truth."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_utils import keccak
from web3 import Web3

from infra.contracts.compile import Artifact
from infra.contracts.deploy import default_deployer, deploy_suite, load_artifacts
from infra.simulator.community import DAY, ChainPlan, Community
from infra.simulator.lending import AccountData
from infra.simulator.model import ChainDeployment, Deployment, Summary
from infra.simulator.txs import BatchSender, Rpc, encode_call
from shared.events import Standard

MIN_WALLETS, MAX_WALLETS = 50, 50_000
MIN_DAYS, MAX_DAYS = 7, 720

# Which contract of the suite each role is, and how to name its events in the summary.
ROLE_CONTRACT = {
    "token": "KithToken",
    "weth": "KithToken",
    "usdc": "KithToken",
    "collection": "KithCollection",
    "items": "KithItems",
    "governor": "KithGovernor",
    "oracle": "KithPriceOracle",
    "pool": "KithLendingPool",
}
ROLE_STANDARD = {
    "token": Standard.ERC20,
    "weth": Standard.ERC20,
    "usdc": Standard.ERC20,
    "collection": Standard.ERC721,
    "items": Standard.ERC1155,
    "governor": Standard.GOVERNOR,
    "oracle": Standard.PRICE_ORACLE,
    "pool": Standard.LENDING_POOL,
}
EVENT_KINDS = {
    ("KithToken", "Transfer"): "erc20_transfer",
    ("KithToken", "Approval"): "erc20_approval",
    ("KithToken", "OwnershipTransferred"): "ownership_transferred",
    ("KithCollection", "Transfer"): "erc721_transfer",
    ("KithItems", "TransferSingle"): "erc1155_transfer_single",
    ("KithItems", "TransferBatch"): "erc1155_transfer_batch",
    ("KithGovernor", "ProposalCreated"): "proposal_created",
    ("KithGovernor", "VoteCast"): "vote_cast",
    ("KithPriceOracle", "AssetPriceUpdated"): "price_updated",
    ("KithLendingPool", "Supply"): "supply",
    ("KithLendingPool", "Withdraw"): "withdraw",
    ("KithLendingPool", "Borrow"): "borrow",
    ("KithLendingPool", "Repay"): "repay",
    ("KithLendingPool", "LiquidationCall"): "liquidation_call",
    ("KithLendingPool", "ReserveUsedAsCollateralEnabled"): "collateral_enabled",
    ("KithLendingPool", "ReserveUsedAsCollateralDisabled"): "collateral_disabled",
    ("KithLendingPool", "ReserveDataUpdated"): "reserve_data_updated",
}


class SimulationError(RuntimeError):
    pass


class Progress(str):
    """One progress line, e.g. "day 37/180  txs 5,123  events 6,012  9.4s", with its numbers as attributes.

    A str, so a plain `Callable[[str], None]` consumer (a logger, the local cloud's banner) works as is.
    """

    day: int  # days completed
    days: int
    transactions: int
    events: int
    elapsed: float

    def __new__(cls, day: int, days: int, transactions: int, events: int, elapsed: float) -> Progress:
        line = f"day {day}/{days}  txs {transactions:,}  events {events:,}  {elapsed:.1f}s"
        self = super().__new__(cls, line)
        self.day, self.days, self.transactions, self.events, self.elapsed = day, days, transactions, events, elapsed
        return self


ProgressFn = Callable[[Progress], None]
DEPLOYMENT_FILE = "deployment.json"


def validate_size(wallets: int, days: int) -> None:
    if not MIN_WALLETS <= wallets <= MAX_WALLETS:
        raise ValueError(f"--wallets must be between {MIN_WALLETS} and {MAX_WALLETS} (got {wallets})")
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ValueError(f"--days must be between {MIN_DAYS} and {MAX_DAYS} (got {days})")


def event_signature(abi_event: dict[str, Any]) -> str:
    def canonical(param: dict[str, Any]) -> str:
        if param["type"].startswith("tuple"):
            return "(" + ",".join(canonical(c) for c in param["components"]) + ")" + param["type"][5:]
        return str(param["type"])

    return f"{abi_event['name']}({','.join(canonical(p) for p in abi_event['inputs'])})"


class LogClassifier:
    """Names each log of the suite by the emitting contract's role and its topic0."""

    def __init__(self, artifacts: dict[str, Artifact], contracts: dict[str, str]) -> None:
        topics: dict[str, dict[str, str]] = {}
        for name in set(ROLE_CONTRACT.values()):
            topics[name] = {
                "0x" + keccak(text=event_signature(item)).hex(): item["name"]
                for item in artifacts[name].abi
                if item["type"] == "event"
            }
        self.by_address = {contracts[role]: topics[name] for role, name in ROLE_CONTRACT.items()}
        self.contract_of = {contracts[role]: name for role, name in ROLE_CONTRACT.items()}

    def kind(self, log: dict[str, Any]) -> str | None:
        address = log["address"].lower()
        events = self.by_address.get(address)
        if events is None or not log["topics"]:
            return None
        name = events.get(log["topics"][0])
        if name is None:
            return "other"
        return EVENT_KINDS.get((self.contract_of[address], name), "other")

    def count(self, logs: list[dict[str, Any]], into: dict[str, int]) -> int:
        counted = 0
        for log in logs:
            kind = self.kind(log)
            if kind is not None:
                into[kind] = into.get(kind, 0) + 1
                counted += 1
        return counted


class _Chain:
    """A chain being simulated: its connection, sender, plan and tallies."""

    def __init__(self, url: str, artifacts: dict[str, Artifact]) -> None:
        self.url = url
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 120}))
        self.rpc = Rpc(url)
        self.chain_id = int(self.rpc.call("eth_chainId"), 16)
        self.deployer = default_deployer(self.w3)
        self.start_block = int(self.rpc.call("eth_blockNumber"), 16) + 1
        self.contracts = deploy_suite(self.w3, artifacts, self.deployer)
        self.classifier = LogClassifier(artifacts, self.contracts)
        self.events: dict[str, int] = {}
        self.sender = BatchSender(self.rpc)
        self.end_time = 0
        self.plan: ChainPlan | None = None
        # Deployment itself logs (OwnershipTransferred, the opening prices): count those too.
        head = int(self.rpc.call("eth_blockNumber"), 16)
        logs = self.rpc.call(
            "eth_getLogs",
            [{"fromBlock": hex(self.start_block), "toBlock": hex(head), "address": list(self.classifier.by_address)}],
        )
        self.log_count = self.classifier.count(logs, self.events)

    def latest_timestamp(self) -> int:
        return int(self.rpc.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)

    def mine_day(self) -> None:
        assert self.plan is not None
        for block in self.plan.blocks:
            for mined in self.sender.mine_block(block.txs, block.timestamp):
                self.log_count += self.classifier.count(mined.logs, self.events)
                self.end_time = mined.timestamp


def simulate(
    rpc_urls: list[str],
    wallets: int = 2000,
    days: int = 180,
    seed: int = 7,
    out: Path | None = None,
    progress: ProgressFn | None = None,
) -> Deployment:
    """Deploy the suite on every chain and play `days` days of community history.

    The first chain carries the whole story; every further chain gets its own suite and the
    activity of the `cross_chain` wallets. Same seed, same plan: same transactions, same personas.
    Writes the Deployment as JSON to `out` when given (to `out`/deployment.json if `out` is a folder).
    """
    validate_size(wallets, days)
    if not rpc_urls:
        raise ValueError("at least one RPC URL is needed")
    started = time.monotonic()
    artifacts = load_artifacts()
    chains = [_Chain(url, artifacts) for url in rpc_urls]
    if len({c.chain_id for c in chains}) != len(chains):
        raise SimulationError(f"the chains must have distinct chain ids, got {[c.chain_id for c in chains]}")
    # Day 0 starts at the next UTC midnight after every chain's latest block: one calendar for all.
    day_zero = (max(c.latest_timestamp() for c in chains) // DAY + 1) * DAY
    community = Community(wallets, days, seed)
    for chain in chains:
        chain.plan = community.add_chain(chain.chain_id, chain.contracts)
    try:
        for chain in chains:
            chain.sender.start()
        for day in range(days):
            community.plan_day(day, day_zero + day * DAY)
            for chain in chains:
                chain.mine_day()
            if progress is not None:
                progress(
                    Progress(
                        day + 1,
                        days,
                        sum(c.sender.transactions for c in chains),
                        sum(c.log_count for c in chains),
                        time.monotonic() - started,
                    )
                )
    finally:
        for chain in chains:
            chain.sender.stop()
    end_time = max(c.end_time for c in chains)
    community.check_ground_truth(end_time)
    for chain in chains:
        _verify_chain(chain, community)
    deployment = _deployment(community, chains, day_zero, seed, days, time.monotonic() - started)
    if out is not None:
        target = Path(out)
        deployment.save(target / DEPLOYMENT_FILE if target.is_dir() else target)
    for chain in chains:
        chain.rpc.close()
    return deployment


def _deployment(
    community: Community, chains: list[_Chain], day_zero: int, seed: int, days: int, elapsed: float
) -> Deployment:
    chain_models = [
        ChainDeployment(
            chain_id=c.chain_id,
            rpc_url=c.url,
            deployer=c.deployer,
            contracts=c.contracts,
            standards={role: ROLE_STANDARD[role].value for role in ROLE_STANDARD},
            start_block=c.start_block,
            head_block=int(c.rpc.call("eth_blockNumber"), 16),
            start_time=day_zero,
            end_time=c.end_time,
            transactions=c.sender.transactions,
            events=dict(sorted(c.events.items())),
        )
        for c in chains
    ]
    by_kind: dict[str, int] = {}
    for c in chains:
        for kind, count in c.events.items():
            by_kind[kind] = by_kind.get(kind, 0) + count
    personas = community.personas()
    summary = Summary(
        wallets=len(community.wallets),
        days=days,
        transactions=sum(c.sender.transactions for c in chains),
        events_total=sum(by_kind.values()),
        events_by_kind=dict(sorted(by_kind.items())),
        events_per_chain={str(c.chain_id): sum(c.events.values()) for c in chains},
        persona_counts={name: len(members) for name, members in personas.items()},
        elapsed_seconds=round(elapsed, 2),
    )
    return Deployment(
        seed=seed,
        days=days,
        chains=chain_models,
        wallets=community.wallets,
        personas=personas,
        first_seen=dict(sorted(community.first_seen.items())),
        last_activity=dict(sorted(community.last_activity.items())),
        summary=summary,
    )


def _calls(rpc: Rpc, to: str, datas: list[str]) -> list[str]:
    results: list[str] = []
    for start in range(0, len(datas), 500):
        chunk = datas[start : start + 500]
        results += rpc.batch([("eth_call", [{"to": to, "data": d}, "latest"]) for d in chunk])
    return results


def _verify_chain(chain: _Chain, community: Community) -> None:
    """The chain must agree with the plan's mirrors: otherwise the ground truth is not the truth."""
    plan = chain.plan
    assert plan is not None
    holders = [*community.wallets, plan.treasury]
    c = chain.contracts
    problems: list[str] = []

    balances = _calls(chain.rpc, c["token"], [encode_call("balanceOf(address)", w) for w in holders])
    for wallet, raw in zip(holders, balances, strict=True):
        if int(raw, 16) != plan.balances.get(wallet, 0):
            problems.append(f"token balance of {wallet}: chain {int(raw, 16)}, plan {plan.balances.get(wallet, 0)}")

    nfts = _calls(chain.rpc, c["collection"], [encode_call("balanceOf(address)", w) for w in community.wallets])
    for wallet, raw in zip(community.wallets, nfts, strict=True):
        if int(raw, 16) != len(plan.nfts_of.get(wallet, [])):
            problems.append(f"NFTs of {wallet}: chain {int(raw, 16)}, plan {len(plan.nfts_of.get(wallet, []))}")

    item_keys = sorted(plan.items)
    items = _calls(chain.rpc, c["items"], [encode_call("balanceOf(uint256,address)", i, w) for i, w in item_keys])
    for key, raw in zip(item_keys, items, strict=True):
        if int(raw, 16) != plan.items[key]:
            problems.append(f"item {key}: chain {int(raw, 16)}, plan {plan.items[key]}")

    users = sorted({user for _, user in plan.pool.supplied} | {user for _, user in plan.pool.borrowed})
    accounts = _calls(chain.rpc, c["pool"], [encode_call("getUserAccountData(address)", u) for u in users])
    for user, raw in zip(users, accounts, strict=True):
        words = bytes.fromhex(raw[2:])
        on_chain = AccountData(*(int.from_bytes(words[i : i + 32], "big") for i in range(0, 192, 32)))
        if on_chain != plan.pool.account(user):
            problems.append(f"account data of {user}: chain {on_chain}, plan {plan.pool.account(user)}")

    if problems:
        raise SimulationError(f"chain {chain.chain_id} disagrees with the plan: " + "; ".join(problems[:5]))
