"""The community contracts and the simulator, against real anvil chains.

Event signatures and indexed-topic counts below are written out by hand from the standards (ERC-20/721/1155,
OpenZeppelin Governor, Aave v3 Pool) rather than read from our ABIs, so a drifted signature fails here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import ContractLogicError

from infra.contracts.deploy import deploy, deploy_suite, load_artifacts, transact
from infra.localcloud.anvil import Anvil, free_port
from infra.simulator import Deployment, simulate
from infra.simulator.lending import PoolMirror, Reserve
from infra.simulator.txs import Rpc, encode_call, mine_transfers

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SMALL = {"wallets": 60, "days": 30}

# (canonical signature, topics including topic0) -> summary kind
STANDARD_EVENTS: dict[tuple[str, int], str] = {
    ("Transfer(address,address,uint256)", 3): "erc20_transfer",
    ("Transfer(address,address,uint256)", 4): "erc721_transfer",
    ("TransferSingle(address,address,address,uint256,uint256)", 4): "erc1155_transfer_single",
    ("TransferBatch(address,address,address,uint256[],uint256[])", 4): "erc1155_transfer_batch",
    ("OwnershipTransferred(address,address)", 3): "ownership_transferred",
    (
        "ProposalCreated(uint256,address,address[],uint256[],string[],bytes[],uint256,uint256,string)",
        1,
    ): "proposal_created",
    ("VoteCast(address,uint256,uint8,uint256,string)", 2): "vote_cast",
    ("AssetPriceUpdated(address,uint256,uint256)", 1): "price_updated",
    ("Supply(address,address,address,uint256,uint16)", 4): "supply",
    ("Withdraw(address,address,address,uint256)", 4): "withdraw",
    ("Borrow(address,address,address,uint256,uint8,uint256,uint16)", 4): "borrow",
    ("Repay(address,address,address,uint256,bool)", 4): "repay",
    ("LiquidationCall(address,address,address,uint256,uint256,address,bool)", 4): "liquidation_call",
    ("ReserveUsedAsCollateralEnabled(address,address)", 3): "collateral_enabled",
    ("ReserveUsedAsCollateralDisabled(address,address)", 3): "collateral_disabled",
    ("ReserveDataUpdated(address,uint256,uint256,uint256,uint256,uint256)", 2): "reserve_data_updated",
}
KIND_BY_TOPIC = {("0x" + keccak(text=sig).hex(), n): kind for (sig, n), kind in STANDARD_EVENTS.items()}


def _topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


@pytest.fixture
def second_chain(tmp_path: Path) -> Iterator[Anvil]:
    with Anvil(chain_id=31338, port=free_port(), state_dir=tmp_path / "anvil-2") as chain:
        yield chain


@pytest.fixture(scope="module")
def artifacts() -> Any:
    return load_artifacts()


def _count_logs(rpc: Rpc, chain: Any) -> dict[str, int]:
    addresses = [a for role, a in chain.contracts.items() if role != "treasury"]
    logs = rpc.call(
        "eth_getLogs",
        [{"fromBlock": hex(chain.start_block), "toBlock": hex(chain.head_block), "address": addresses}],
    )
    counts: dict[str, int] = {}
    for log in logs:
        kind = KIND_BY_TOPIC.get((log["topics"][0], len(log["topics"])), "unknown")
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _uint(rpc: Rpc, to: str, signature: str, *args: Any) -> int:
    return int(rpc.call("eth_call", [{"to": to, "data": encode_call(signature, *args)}, "latest"]), 16)


def test_a_small_run_is_deterministic_and_its_summary_matches_the_chain(
    anvil_chain: Anvil, second_chain: Anvil, tmp_path: Path
) -> None:
    # Given two fresh chains
    out = tmp_path / "deployment.json"
    lines: list[str] = []

    # When a small community is simulated on them
    first = simulate([anvil_chain.url, second_chain.url], seed=7, out=out, progress=lines.append, **SMALL)

    # Then the saved file is the returned deployment, and progress came once a day
    assert Deployment.load(out) == first
    assert len(lines) == SMALL["days"] and lines[-1].startswith(f"day {SMALL['days']}/{SMALL['days']}")
    # and every log on chain is a standard event, counted exactly as the summary says
    for chain in first.chains:
        rpc = Rpc(chain.rpc_url)
        assert _count_logs(rpc, chain) == chain.events
    assert first.summary.events_total == sum(sum(c.events.values()) for c in first.chains)
    kinds = first.summary.events_by_kind
    for kind in set(STANDARD_EVENTS.values()) - {"collateral_disabled", "repay", "withdraw"}:
        assert kinds.get(kind, 0) > 0, kind
    assert kinds["liquidation_call"] >= 2 and first.summary.events_per_chain["31338"] > 0
    # and the personas are what they claim to be, on chain
    rpc = Rpc(first.chains[0].rpc_url)
    token, collection = first.chains[0].contracts["token"], first.chains[0].contracts["collection"]
    supply = _uint(rpc, token, "totalSupply()")
    assert all(_uint(rpc, token, "balanceOf(address)", w) * 100 >= supply for w in first.personas["whale"])
    assert all(_uint(rpc, token, "balanceOf(address)", w) == 0 for w in first.personas["seller_exited"])
    assert all(_uint(rpc, collection, "balanceOf(address)", w) >= 5 for w in first.personas["collector"])
    assert set(first.personas["cross_chain"]) <= set(first.wallets)

    # When the same seed runs again on other fresh chains
    with (
        Anvil(chain_id=31337, port=free_port(), state_dir=tmp_path / "again-1") as a,
        Anvil(chain_id=31338, port=free_port(), state_dir=tmp_path / "again-2") as b,
    ):
        again = simulate([a.url, b.url], seed=7, **SMALL)
        # and another seed runs on those (no longer fresh) chains
        other = simulate([a.url, b.url], seed=8, **SMALL)

    # Then the same seed gives the same personas, transactions and events; another seed does not
    assert again.personas == first.personas
    assert again.summary.events_by_kind == first.summary.events_by_kind
    assert again.summary.transactions == first.summary.transactions
    assert [c.events for c in again.chains] == [c.events for c in first.chains]
    assert other.personas != first.personas
    assert other.chains[0].start_block > 1  # it deployed a new suite after the first run's blocks


def test_health_factor_drops_below_one_and_liquidation_emits_the_aave_event(anvil_chain: Anvil, artifacts) -> None:
    # Given the suite, and a user who supplies 10 WETH at $3,000 and borrows 20,000 USDC
    w3 = Web3(Web3.HTTPProvider(anvil_chain.url))
    deployer, user, liquidator = (a.lower() for a in w3.eth.accounts[:3])
    c = deploy_suite(w3, artifacts, deployer)
    pool = w3.eth.contract(address=Web3.to_checksum_address(c["pool"]), abi=artifacts["KithLendingPool"].abi)
    oracle = w3.eth.contract(address=Web3.to_checksum_address(c["oracle"]), abi=artifacts["KithPriceOracle"].abi)
    weth, usdc = Web3.to_checksum_address(c["weth"]), Web3.to_checksum_address(c["usdc"])
    supply = transact(w3, pool, "supply", weth, 10 * 10**18, user, 0, sender=user)
    borrow = transact(w3, pool, "borrow", usdc, 20_000 * 10**6, 2, 0, user, sender=user)
    assert supply["logs"][0]["topics"][0].to_0x_hex() == _topic("Supply(address,address,address,uint256,uint16)")
    assert borrow["logs"][0]["topics"][0].to_0x_hex() == _topic(
        "Borrow(address,address,address,uint256,uint8,uint256,uint16)"
    )

    # Then the account data is Aave's: base currency 8 decimals, bps, HF = 30,000 * 0.825 / 20,000
    data = pool.functions.getUserAccountData(Web3.to_checksum_address(user)).call()
    assert data == [30_000 * 10**8, 20_000 * 10**8, 4_000 * 10**8, 8250, 8000, 12375 * 10**14]
    mirror = PoolMirror(
        [Reserve(c["weth"], 0, 18, 8000, 8250, 10500), Reserve(c["usdc"], 1, 6, 7700, 8000, 10450)],
        prices={c["weth"]: 3_000 * 10**8, c["usdc"]: 10**8},
    )
    mirror.supply(c["weth"], user, 10 * 10**18)
    mirror.borrow(c["usdc"], user, 20_000 * 10**6)
    assert tuple(data) == mirror.account(user)
    # and a healthy position cannot be liquidated
    with pytest.raises(ContractLogicError):
        pool.functions.liquidationCall(weth, usdc, Web3.to_checksum_address(user), 10**9, False).call(
            {"from": Web3.to_checksum_address(liquidator)}
        )

    # When WETH drops to $2,000
    transact(w3, oracle, "setAssetPrice", weth, 2_000 * 10**8, sender=deployer)

    # Then the health factor is below 1 (0.825)
    health = pool.functions.getUserAccountData(Web3.to_checksum_address(user)).call()[5]
    assert health == 825 * 10**15 < 10**18

    # When a liquidator covers 10,000 USDC
    receipt = transact(w3, pool, "liquidationCall", weth, usdc, user, 10_000 * 10**6, False, sender=liquidator)

    # Then LiquidationCall carries Aave's indexed topics and amounts: 5 WETH plus the 5% bonus
    (log,) = [
        x
        for x in receipt["logs"]
        if x["topics"][0].to_0x_hex() == _topic("LiquidationCall(address,address,address,uint256,uint256,address,bool)")
    ]
    assert [t.to_0x_hex()[-40:] for t in log["topics"][1:]] == [weth[2:].lower(), usdc[2:].lower(), user[2:]]
    debt, seized, who, receive = abi_decode(["uint256", "uint256", "address", "bool"], bytes(log["data"]))
    assert (debt, seized, who.lower(), receive) == (10_000 * 10**6, 525 * 10**16, liquidator, False)
    mirror.prices[c["weth"]] = 2_000 * 10**8
    assert mirror.liquidate(c["weth"], c["usdc"], user, 10_000 * 10**6)[:2] == (debt, seized)
    after = pool.functions.getUserAccountData(Web3.to_checksum_address(user)).call()
    assert tuple(after) == mirror.account(user)


def test_bytes32_symbol_and_no_decimals_tokens_behave_like_their_mainnet_cousins(anvil_chain: Anvil, artifacts) -> None:
    # Given an MKR-style token (bytes32 metadata) and a token without decimals(), minted to a holder
    w3 = Web3(Web3.HTTPProvider(anvil_chain.url))
    deployer, holder = (a.lower() for a in w3.eth.accounts[:2])
    mkr = deploy(
        w3, artifacts["Bytes32SymbolToken"], b"Maker".ljust(32, b"\0"), b"MKR".ljust(32, b"\0"), sender=deployer
    )
    bare = deploy(w3, artifacts["NoDecimalsToken"], "Bare Token", "BARE", sender=deployer)
    for token in (mkr, bare):
        transact(w3, token, "mint", holder, 1_000, sender=deployer)
    rpc = Rpc(anvil_chain.url)

    def call(token: Any, signature: str) -> str:
        return str(rpc.call("eth_call", [{"to": token.address, "data": encode_call(signature)}, "latest"]))

    # Then MKR's symbol() is 32 raw bytes, not an ABI string, and it does have 18 decimals
    raw = bytes.fromhex(call(mkr, "symbol()")[2:])
    assert raw == b"MKR".ljust(32, b"\0")
    with pytest.raises(DecodingError):
        abi_decode(["string"], raw)
    assert int(call(mkr, "decimals()"), 16) == 18
    # and the bare token names itself with strings but has no decimals() at all: the call reverts
    assert abi_decode(["string"], bytes.fromhex(call(bare, "symbol()")[2:])) == ("BARE",)
    reply = requests.post(
        anvil_chain.url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_call",
            "params": [{"to": bare.address, "data": encode_call("decimals()")}, "latest"],
        },
        timeout=10,
    ).json()
    assert "error" in reply and "result" not in reply

    # When the holder transfers both through the batch helper
    receiver = "0x" + "ab" * 20
    blocks = mine_transfers(anvil_chain.url, mkr.address, [(holder, receiver, 400)])
    blocks += mine_transfers(anvil_chain.url, bare.address, [(holder, receiver, 250), (holder, receiver, 50)])

    # Then each emits a standard ERC-20 Transfer and the balances moved
    transfer = _topic("Transfer(address,address,uint256)")
    assert [log["topics"][0] for b in blocks for log in b.logs] == [transfer] * 3
    assert _uint(rpc, mkr.address, "balanceOf(address)", receiver) == 400
    assert _uint(rpc, bare.address, "balanceOf(address)", receiver) == 300
    assert _uint(rpc, bare.address, "balanceOf(address)", holder) == 700


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--wallets", "10"], "error: --wallets must be between 50 and 50000 (got 10)"),
        (["--wallets", "50001"], "error: --wallets must be between 50 and 50000 (got 50001)"),
        (["--days", "3"], "error: --days must be between 7 and 720 (got 3)"),
    ],
)
def test_an_out_of_range_size_exits_2_with_one_line(args: list[str], message: str) -> None:
    # When the CLI is asked for an impossible size (and no chain is running: it must not get that far)
    result = subprocess.run(
        [sys.executable, "-m", "infra.simulator", "--rpc", "http://127.0.0.1:9", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then it exits 2 with exactly one line on stderr and nothing on stdout
    assert result.returncode == 2
    assert result.stderr.splitlines() == [message]
    assert result.stdout == ""
