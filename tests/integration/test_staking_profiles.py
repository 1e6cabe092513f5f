"""Stakes against the contracts themselves: after deposits, withdrawals, stakes and unstakes sent as real
transactions, and reorgs of them, every wallet's stakes equal the vault's maxWithdraw and balanceOf and the
staking pool's balanceOf at the cursor (anvil + moto, the Events stream read as Lambda reads it)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from web3 import Web3

from infra.contracts.deploy import load_artifacts
from infra.localcloud.template import Template
from shared import tracking
from shared.chain.reorg import CursorStore
from shared.events import Standard
from shared.ingest import ingest_chain
from shared.profiles.model import stake_key
from shared.profiles.store import load_profile
from shared.profiles.stream import apply_images
from shared.settings import ChainConfig, Settings, TrackedContract, get_settings
from tests.integration.test_lending_health import StreamReader
from tests.support.ingest_chain import HistoryAnvil, fast_options, receipt, rpc, settings_for

pytestmark = pytest.mark.integration
WINDOW = 8
UNIT = 10**18


class StakeLab:
    """A KithToken, a KithVault over it and a KithStakingPool of it; each wallet holds tokens and has
    approved both, so any deposit, withdrawal, stake or unstake is one transaction from the wallet itself."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.w3 = Web3(Web3.HTTPProvider(url))
        accounts = [str(a) for a in self.w3.eth.accounts]
        self.operator, self.wallets = accounts[0], accounts[1:5]
        built = load_artifacts()
        self.token = self._deploy(built["KithToken"], "Kith", "KITH", 18)
        self.vault = self._deploy(built["KithVault"], self.token.address, "Staked Kith", "sKITH")
        self.pool = self._deploy(built["KithStakingPool"], self.token.address)
        for wallet in self.wallets:
            self.send(self.tx(self.token, "mint", wallet, 1000 * UNIT))
            for spender in (self.vault, self.pool):
                self.send(self.tx(self.token, "approve", spender.address, 2**256 - 1, sender=wallet))

    def _deploy(self, artifact: Any, *args: Any) -> Any:
        data = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode).constructor(*args).data_in_transaction
        tx_hash = rpc(self.url, "eth_sendTransaction", [{"from": self.operator, "data": data, "gas": hex(6_000_000)}])
        address = receipt(self.url, tx_hash)["contractAddress"]
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi)

    def tx(self, contract: Any, fn: str, *args: Any, sender: str | None = None) -> dict[str, Any]:
        data = contract.encode_abi(fn, args=list(args))
        return {"from": sender or self.operator, "to": contract.address, "data": data, "gas": hex(500_000)}

    def send(self, tx: dict[str, Any]) -> None:
        assert int(receipt(self.url, rpc(self.url, "eth_sendTransaction", [tx]))["status"], 16) == 1

    def random_move(self, rng: random.Random, block: int | str = "latest") -> dict[str, Any]:
        """A move valid on the chain as it stands at `block`; often a whole exit, so stakes start and end."""
        wallet = rng.choice(self.wallets)
        shares = self.vault.functions.balanceOf(wallet).call(block_identifier=block)
        staked = self.pool.functions.balanceOf(wallet).call(block_identifier=block)
        amount = rng.randint(1, 50) * UNIT + rng.randint(0, 999)
        choice = rng.random()
        if choice < 0.3 or (choice < 0.5 and shares == 0):
            receiver = wallet if rng.random() < 0.8 else rng.choice(self.wallets)  # a deposit for another wallet
            return self.tx(self.vault, "deposit", amount, receiver, sender=wallet)
        if choice < 0.5:
            burn = shares if rng.random() < 0.5 else rng.randint(1, shares)
            return self.tx(self.vault, "redeem", burn, rng.choice(self.wallets), wallet, sender=wallet)
        if choice < 0.8 or staked == 0:
            return self.tx(self.pool, "stake", amount, sender=wallet)
        return self.tx(self.pool, "withdraw", staked if rng.random() < 0.5 else rng.randint(1, staked), sender=wallet)

    def config(self) -> ChainConfig:
        token = self.token.address.lower()
        contracts = [
            TrackedContract(address=self.vault.address.lower(), standard=Standard.ERC4626_VAULT, underlying=token),
            TrackedContract(address=self.pool.address.lower(), standard=Standard.STAKING, underlying=token),
        ]
        return ChainConfig(
            chain_id=31337, rpc_url=self.url, contracts=contracts, max_range=50, initial_range=7, reorg_window=WINDOW
        )


def assert_stakes_match_the_chain(lab: StakeLab, cursor: int) -> int:
    """Every wallet's stakes are the contracts' own at `cursor`; returns how many positions are staked."""
    staked = 0
    for wallet in lab.wallets:
        stored = load_profile(wallet.lower(), get_settings())
        stakes = stored[0].staking if stored else {}
        vault = stakes.get(stake_key(31337, lab.vault.address.lower()))
        pool = stakes.get(stake_key(31337, lab.pool.address.lower()))
        shares = lab.vault.functions.balanceOf(wallet).call(block_identifier=cursor)
        withdrawable = lab.vault.functions.maxWithdraw(wallet).call(block_identifier=cursor)
        in_pool = lab.pool.functions.balanceOf(wallet).call(block_identifier=cursor)
        assert (vault.shares if vault else 0) == shares, f"vault shares of {wallet} at {cursor}"
        assert (vault.staked_assets if vault else 0) == withdrawable, f"vault assets of {wallet} at {cursor}"
        assert (pool.staked_assets if pool else 0) == in_pool, f"pool stake of {wallet} at {cursor}"
        for position, amount in ((vault, shares), (pool, in_pool)):
            if position is None:
                continue
            assert (position.staked_since is not None) == (amount > 0), "staked since exactly while staked"
            assert position.unstaked_at is None or amount == 0, "unstaked only once out"
            assert position.underlying == lab.token.address.lower()
            staked += amount > 0
    return staked


def test_stakes_equal_the_contracts_through_random_reorgs_and_redelivery(
    tmp_path: Any, deployed: Any, template: Template
) -> None:
    rng = random.Random(23)
    with HistoryAnvil(tmp_path / "anvil") as chain:
        # Given a vault and a staking pool, tracked, and the Events stream delivered to profiles as Lambda would
        lab = StakeLab(chain.url)
        config = lab.config()
        settings = settings_for(deployed.events_table, deployed.app_table, config)
        stream = StreamReader(deployed.events_table, template, "ProfilesFunction")
        reorgs = exits = 0
        for _round in range(10):
            # When wallets deposit, redeem, stake and unstake, and the newest blocks are often replaced
            for _ in range(rng.randint(2, 6)):
                lab.send(lab.random_move(rng))
            if _round and rng.random() < 0.7:
                depth = rng.randint(1, WINDOW - 1)
                base = lab.w3.eth.block_number - depth
                replacements = [[lab.random_move(rng, base), 0]]
                rpc(chain.url, "anvil_reorg", [depth, replacements])
                reorgs += 1
                lab.send(lab.random_move(rng))
            summary = ingest_chain(config, settings, fast_options())
            assert summary.stopped == "caught_up" and summary.malformed == 0
            _, records = stream.read()
            images = [(r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in records]
            position = 0
            while position < len(images):
                size = rng.randint(1, 12)
                batch = images[position : position + size]
                apply_images(batch, get_settings())
                if rng.random() < 0.3:
                    apply_images(batch, get_settings())
                position += size

            # Then each wallet's stakes are the vault's maxWithdraw and balanceOf and the pool's balanceOf
            cursor = CursorStore(deployed.app_table, 31337).load().last_block
            assert cursor == lab.w3.eth.block_number
            assert_stakes_match_the_chain(lab, cursor)
            exits += sum(
                1
                for w in lab.wallets
                if (stored := load_profile(w.lower(), get_settings()))
                for p in stored[0].staking.values()
                if p.unstaked_at is not None
            )
        assert reorgs >= 4 and exits >= 1


def test_a_tracked_vault_keeps_its_underlying_token_through_the_app_table(deployed: Any) -> None:
    # Given a chain seeded with a vault and a staking contract that declare their underlying token
    token, vault, pool = "0x" + "c1" * 20, "0x" + "c2" * 20, "0x" + "c3" * 20
    contracts = [
        TrackedContract(address=vault, standard=Standard.ERC4626_VAULT, underlying=token.upper().replace("X", "x")),
        TrackedContract(address=pool, standard=Standard.STAKING),
    ]
    chain = ChainConfig(chain_id=31337, rpc_url="http://127.0.0.1:1", contracts=contracts)
    settings = Settings(events_table=deployed.events_table, app_table=deployed.app_table, chains=[chain])
    tracking.forget_cached()

    # When the chain is read back as ingest reads it
    loaded = tracking.tracked_chain(settings, 31337)

    # Then the vault's underlying token is there, lower-cased, and the staking contract has none
    assert {c.address: (c.standard, c.underlying) for c in loaded.contracts} == {
        vault: (Standard.ERC4626_VAULT, token),
        pool: (Standard.STAKING, None),
    }
