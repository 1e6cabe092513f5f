"""Deploy the community suite (token, NFTs, governor, oracle, lending pool) to a chain.

Deployment goes through web3 one transaction at a time: it is a dozen transactions, so clarity wins
over the batch path the simulator uses for its tens of thousands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TimeExhausted

from infra.contracts.compile import Artifact, compile_sources

CONTRACTS_DIR = Path(__file__).resolve().parent
ROOT = CONTRACTS_DIR.parents[1]
DEFAULT_CACHE = ROOT / ".state" / "solc-cache"

VOTING_PERIOD = 7 * 24 * 3600  # seconds, as a typical Governor's one week
TOKEN_DECIMALS = 18

# Aave v3 mainnet-like risk parameters (bps): ltv, liquidation threshold, liquidation bonus.
RESERVES: dict[str, tuple[int, int, int, int]] = {
    # role: (decimals, ltv, liquidationThreshold, liquidationBonus)
    "weth": (18, 8000, 8250, 10500),
    "usdc": (6, 7700, 8000, 10450),
    "token": (TOKEN_DECIMALS, 5000, 6500, 11000),
}
# Opening USD prices, 8 decimals (Aave's base currency).
INITIAL_PRICES: dict[str, int] = {"weth": 3_000 * 10**8, "usdc": 10**8, "token": 50_000_000}


class DeployError(RuntimeError):
    pass


def load_artifacts(cache_dir: Path = DEFAULT_CACHE) -> dict[str, Artifact]:
    """Compile (or load from cache) every contract in infra/contracts."""
    return compile_sources(sorted(CONTRACTS_DIR.glob("*.sol")), cache_dir)


def default_deployer(w3: Web3) -> str:
    """anvil's first unlocked account."""
    accounts = w3.eth.accounts
    if not accounts:
        raise DeployError("the node exposes no unlocked accounts (eth_accounts is empty): is it anvil?")
    return str(accounts[0]).lower()


def _wait(w3: Web3, tx_hash: bytes, what: str) -> Any:
    try:
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=5, poll_latency=0.01)  # type: ignore[arg-type]
    except TimeExhausted:
        # Automine may be off (the simulator turns it off while it runs): then mine the block ourselves.
        # Only then: an unconditional evm_mine would add a stray block whenever the receipt lags.
        if w3.provider.make_request("anvil_getAutomine", []).get("result"):  # type: ignore[arg-type]
            raise
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)  # type: ignore[arg-type]
    if receipt["status"] != 1:
        raise DeployError(f"{what} reverted (tx {tx_hash.hex()})")
    return receipt


def _checksummed(value: Any) -> Any:
    # web3 rejects lower-case addresses; Kith keeps addresses lower-case everywhere else.
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x") and Web3.is_address(value):
        return Web3.to_checksum_address(value)
    if isinstance(value, list | tuple):
        return type(value)(_checksummed(v) for v in value)
    return value


def deploy(w3: Web3, artifact: Artifact, *args: Any, sender: str) -> Contract:
    """Deploy `artifact` with constructor `args` (addresses may be lower-case) from the unlocked `sender`."""
    if not artifact.bytecode or artifact.bytecode == "0x":
        raise DeployError(f"{artifact.name} has no bytecode (an interface or abstract contract?)")
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = factory.constructor(*_checksummed(args)).transact({"from": Web3.to_checksum_address(sender)})
    receipt = _wait(w3, tx_hash, f"deploying {artifact.name}")
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def transact(w3: Web3, contract: Contract, function: str, *args: Any, sender: str) -> Any:
    """Call a state-changing function (addresses may be lower-case) from the unlocked `sender`; wait for success."""
    tx_hash = contract.functions[function](*_checksummed(args)).transact({"from": Web3.to_checksum_address(sender)})
    return _wait(w3, tx_hash, f"{function} on {contract.address}")


def deploy_suite(w3: Web3, artifacts: dict[str, Artifact], deployer: str | None = None) -> dict[str, str]:
    """Deploy and configure the community suite; returns role -> lower-case address.

    Roles: token (KITH, 18 decimals), collection (ERC-721), items (ERC-1155), governor, oracle,
    pool, weth and usdc (asset tokens the pool lists, 18 and 6 decimals), and treasury (the
    deployer, which owns everything). The pool lists weth, usdc and token with Aave-like risk
    parameters, and the oracle holds opening prices.
    """
    owner = (deployer or default_deployer(w3)).lower()
    token = deploy(w3, artifacts["KithToken"], "Kith", "KITH", TOKEN_DECIMALS, sender=owner)
    weth = deploy(w3, artifacts["KithToken"], "Wrapped Ether", "WETH", 18, sender=owner)
    usdc = deploy(w3, artifacts["KithToken"], "USD Coin", "USDC", 6, sender=owner)
    collection = deploy(w3, artifacts["KithCollection"], "Kith Members", "KITHM", sender=owner)
    items = deploy(w3, artifacts["KithItems"], sender=owner)
    governor = deploy(w3, artifacts["KithGovernor"], token.address, VOTING_PERIOD, sender=owner)
    oracle = deploy(w3, artifacts["KithPriceOracle"], sender=owner)
    pool = deploy(w3, artifacts["KithLendingPool"], oracle.address, sender=owner)
    assets = {"weth": weth.address, "usdc": usdc.address, "token": token.address}
    for role, (decimals, ltv, threshold, bonus) in RESERVES.items():
        transact(w3, pool, "initReserve", assets[role], decimals, ltv, threshold, bonus, sender=owner)
    transact(
        w3,
        oracle,
        "setAssetPrices",
        [assets[role] for role in INITIAL_PRICES],
        list(INITIAL_PRICES.values()),
        sender=owner,
    )
    contracts = {
        "token": token,
        "collection": collection,
        "items": items,
        "governor": governor,
        "oracle": oracle,
        "pool": pool,
        "weth": weth,
        "usdc": usdc,
    }
    addresses = {role: str(c.address).lower() for role, c in contracts.items()}
    addresses["treasury"] = owner
    return addresses


def deploy_staking(w3: Web3, artifacts: dict[str, Artifact], asset: str, deployer: str | None = None) -> dict[str, str]:
    """A KithVault (ERC-4626) and a KithStakingPool over `asset`; returns role -> lower-case address.

    Track them as `erc4626-vault` and `staking` with `underlying=asset`.
    """
    owner = (deployer or default_deployer(w3)).lower()
    asset_address = Web3.to_checksum_address(asset)
    vault = deploy(w3, artifacts["KithVault"], asset_address, "Staked Kith", "sKITH", sender=owner)
    staking = deploy(w3, artifacts["KithStakingPool"], asset_address, sender=owner)
    return {"vault": str(vault.address).lower(), "staking": str(staking.address).lower()}


def deploy_distributor(
    w3: Web3, artifacts: dict[str, Artifact], token: str, merkle_root: str, funding: int, deployer: str | None = None
) -> str:
    """Deploy a KithMerkleDistributor paying `token` against `merkle_root` (an airdrop snapshot's root, as
    GET /airdrops/{id}/merkle gives it), and fund it with `funding` of the deployer's tokens; returns its
    lower-case address. The deployer must hold `funding` (the suite's treasury mints it first)."""
    owner = (deployer or default_deployer(w3)).lower()
    distributor = deploy(w3, artifacts["KithMerkleDistributor"], token, bytes.fromhex(merkle_root[2:]), sender=owner)
    if funding:
        token_contract = w3.eth.contract(address=Web3.to_checksum_address(token), abi=artifacts["KithToken"].abi)
        transact(w3, token_contract, "transfer", distributor.address, funding, sender=owner)
    return str(distributor.address).lower()
