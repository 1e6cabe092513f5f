"""Test support for ingestion: an anvil that keeps history (for anvil_reorg), fixture contracts, and a
scenario that emits every event shape Kith decodes, with exact expectations."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from web3 import Web3

from infra.contracts.compile import Artifact, compile_sources
from infra.localcloud.anvil import anvil_binary, free_port
from shared.chain.rpc import RetryPolicy
from shared.events import Standard
from shared.ingest import IngestOptions
from shared.settings import ChainConfig, Settings, TrackedContract

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "tests" / "contracts" / "IngestFixtures.sol"]
CACHE = ROOT / ".state" / "test-contracts"

BIG = 2**200 + 123_456_789


def artifacts() -> dict[str, Artifact]:
    return compile_sources(SOURCES, CACHE)


class HistoryAnvil:
    """anvil with a bounded in-memory state history: `--prune-history` alone keeps too few states
    for anvil_reorg, and infra's Anvil passes the bare flag."""

    def __init__(self, state_dir: Path, chain_id: int = 31337, history: int = 512) -> None:
        self.port = free_port()
        self.chain_id = chain_id
        self.state_dir = state_dir
        self.history = history
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HistoryAnvil:
        home = self.state_dir / "home"
        home.mkdir(parents=True, exist_ok=True)
        args = [
            str(anvil_binary()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--prune-history",
            str(self.history),
            "--accounts",
            "10",
            "--silent",
            "--gas-limit",
            "30000000",
        ]
        env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
        self.process = subprocess.Popen(args, env=env, cwd=self.state_dir, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError("anvil did not start")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


def receipt(url: str, tx_hash: str) -> dict[str, Any]:
    for _ in range(400):
        found = rpc(url, "eth_getTransactionReceipt", [tx_hash])
        if found is not None:
            return dict(found)
        time.sleep(0.005)
    raise RuntimeError(f"no receipt for {tx_hash}")


def rpc(url: str, method: str, params: list[Any]) -> Any:
    answer = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=30).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


@dataclass
class Fixtures:
    url: str
    w3: Web3
    account: str
    contracts: dict[str, Any] = field(default_factory=dict)  # name -> web3 contract

    def tx(self, name: str, fn: str, *args: Any) -> dict[str, Any]:
        contract = self.contracts[name]
        return {
            "from": self.account,
            "to": contract.address,
            "data": contract.encode_abi(fn, args=list(args)),
            "gas": hex(5_000_000),
        }

    def send(self, name: str, fn: str, *args: Any) -> str:
        tx_hash: str = rpc(self.url, "eth_sendTransaction", [self.tx(name, fn, *args)])
        found = receipt(self.url, tx_hash)
        assert found["status"] == "0x1", found
        return tx_hash

    def mine(self, blocks: int = 1) -> None:
        rpc(self.url, "anvil_mine", [hex(blocks)])

    def tracked(self) -> list[TrackedContract]:
        standards = {
            "erc20": Standard.ERC20,
            "bytes32": Standard.ERC20,
            "nodec": Standard.ERC20,
            "erc721": Standard.ERC721,
            "erc1155": Standard.ERC1155,
            "governor": Standard.GOVERNOR,
            "pool": Standard.LENDING_POOL,
        }
        return [TrackedContract(address=self.contracts[k].address, standard=s, label=k) for k, s in standards.items()]


def deploy_fixtures(url: str) -> Fixtures:
    built = artifacts()
    w3 = Web3(Web3.HTTPProvider(url))
    account = w3.eth.accounts[0]
    fixtures = Fixtures(url=url, w3=w3, account=account)
    plan = {
        "erc20": ("FixtureERC20", ["Kith Token", "KITH", 18]),
        "bytes32": ("Bytes32SymbolFixture", []),
        "nodec": ("NoDecimalsFixture", []),
        "erc721": ("FixtureERC721", []),
        "erc1155": ("FixtureERC1155", []),
        "governor": ("FixtureGovernor", []),
        "pool": ("FixturePool", []),
    }
    for key, (name, args) in plan.items():
        art = built[name]
        factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        data = factory.constructor(*args).data_in_transaction
        tx_hash = rpc(url, "eth_sendTransaction", [{"from": account, "data": data, "gas": hex(5_000_000)}])
        address = Web3.to_checksum_address(receipt(url, tx_hash)["contractAddress"])
        fixtures.contracts[key] = w3.eth.contract(address=address, abi=art.abi)
    return fixtures


def deploy_tokens(url: str, count: int) -> list[str]:
    """`count` FixtureERC20 tokens named "Token <i>" ("T<i>", 6 + i % 13 decimals): their lower-case addresses."""
    art = artifacts()["FixtureERC20"]
    w3 = Web3(Web3.HTTPProvider(url))
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    account = w3.eth.accounts[0]
    hashes = [
        rpc(
            url,
            "eth_sendTransaction",
            [
                {
                    "from": account,
                    "data": factory.constructor(f"Token {i}", f"T{i}", 6 + i % 13).data_in_transaction,
                    "gas": hex(3_000_000),
                }
            ],
        )
        for i in range(count)
    ]
    return [str(receipt(url, tx_hash)["contractAddress"]).lower() for tx_hash in hashes]


A = "0x" + "a1" * 20
B = "0x" + "b2" * 20
C = "0x" + "c3" * 20
ZERO = "0x" + "00" * 20


def a(addr: str) -> str:
    return Web3.to_checksum_address(addr)


def emit_everything(f: Fixtures) -> None:
    """One of each shape, amounts above 2**200 where a uint256 allows, plus one malformed log."""
    f.send("erc20", "emitTransfer", a(ZERO), a(A), 5 * 10**18)  # a mint
    f.send("erc20", "emitTransfer", a(A), a(B), BIG)
    f.send("bytes32", "emitTransfer", a(A), a(C), 77)
    f.send("nodec", "emitTransfer", a(B), a(C), 3)
    f.send("erc721", "emitTransfer", a(ZERO), a(A), 1)
    f.send("erc721", "emitTransfer", a(ZERO), a(A), 2**255 + 1)
    f.send("erc721", "emitTransfer", a(A), a(B), 1)
    f.send("erc1155", "emitSingle", a(ZERO), a(A), 7, 2**201)
    f.send("erc1155", "emitBatch", a(A), a(B), [1, 2, 3], [10, 2**210, 30])
    f.send("governor", "castVote", 42, 1, 2**220, "for, obviously \u2713")
    f.send("governor", "castVoteWithParams", 43, 0, 5, "", b"\x01\x02")
    reserve, debt = a(C), a(B)
    f.send("pool", "supply", reserve, a(A), 2**202)
    f.send("pool", "withdraw", reserve, a(B), 11)
    f.send("pool", "borrow", debt, a(A), 12)
    f.send("pool", "repay", debt, a(A), 13)
    f.send("pool", "liquidate", reserve, debt, a(A), 14, 15)
    f.send("pool", "setCollateral", reserve, True)
    f.send("pool", "setCollateral", reserve, False)
    f.send("pool", "updateReserve", reserve, 10**27, 2 * 10**26)
    f.send("erc20", "emitMalformed")


def chain_config(url: str, f: Fixtures, **overrides: Any) -> ChainConfig:
    values: dict[str, Any] = {
        "chain_id": 31337,
        "rpc_url": url,
        "contracts": f.tracked(),
        "max_range": 50,
        "initial_range": 7,
        "reorg_window": 8,
    }
    values.update(overrides)
    return ChainConfig(**values)


def settings_for(events_table: str, app_table: str, chain: ChainConfig) -> Settings:
    return Settings(events_table=events_table, app_table=app_table, chains=[chain])


def fast_options(**overrides: Any) -> IngestOptions:
    values: dict[str, Any] = {
        "rpc": RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.1, timeout=5.0),
        "safety_margin_s": 0.0,
    }
    values.update(overrides)
    return IngestOptions(**values)


def scan_items(endpoint_table: str) -> list[dict[str, Any]]:
    from shared.store.dynamo import client, from_item

    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": endpoint_table, "ConsistentRead": True}
    while True:
        answer = client("dynamodb").scan(**request)
        items.extend(from_item(i) for i in answer.get("Items", []))
        if "LastEvaluatedKey" not in answer:
            return items
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def item_set(table: str) -> set[tuple[tuple[str, Any], ...]]:
    return {tuple(sorted((k, repr(v)) for k, v in item.items())) for item in scan_items(table)}
