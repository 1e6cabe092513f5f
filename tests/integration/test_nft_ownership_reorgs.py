"""NFT ownership through reorgs and redelivery, against the contracts themselves: after random reorgs of
depth 1 to window-1 with differing transactions, every wallet's ERC-721 ids equal `ownerOf` at the
cursor and its ERC-1155 balances equal `balanceOfBatch` (anvil + moto, the Events stream read as Lambda
reads it)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from web3 import Web3

from infra.contracts.deploy import load_artifacts
from infra.localcloud.template import Template
from shared.chain.reorg import CursorStore
from shared.events import Standard
from shared.ingest import ingest_chain
from shared.profiles.store import load_profile
from shared.profiles.stream import apply_images
from shared.settings import ChainConfig, TrackedContract, get_settings
from tests.integration.test_lending_health import StreamReader
from tests.support.ingest_chain import HistoryAnvil, fast_options, item_set, receipt, rpc, settings_for
from tests.support.ingest_fixtures import clean_event_items

pytestmark = pytest.mark.integration
WINDOW = 8
ITEM_IDS = [1, 2, 3]


class NftLab:
    """A KithCollection (ERC-721) and a KithItems (ERC-1155) whose holders let the deployer move their
    tokens, so any transfer can be sent from one unlocked account, in a block or as a reorg's replacement."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.w3 = Web3(Web3.HTTPProvider(url))
        accounts = [str(a) for a in self.w3.eth.accounts]
        self.operator, self.wallets = accounts[0], accounts[1:5]
        built = load_artifacts()
        self.collection = self._deploy(built["KithCollection"], "Kith Collection", "KC")
        self.items = self._deploy(built["KithItems"])
        for wallet in self.wallets:
            for contract in (self.collection, self.items):
                self.send(self.tx(contract, "setApprovalForAll", self.operator, True, sender=wallet))

    def _deploy(self, artifact: Any, *args: Any) -> Any:
        data = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode).constructor(*args).data_in_transaction
        tx_hash = rpc(self.url, "eth_sendTransaction", [{"from": self.operator, "data": data, "gas": hex(6_000_000)}])
        address = receipt(self.url, tx_hash)["contractAddress"]
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi)

    def tx(self, contract: Any, fn: str, *args: Any, sender: str | None = None) -> dict[str, Any]:
        data = contract.encode_abi(fn, args=list(args))
        return {"from": sender or self.operator, "to": contract.address, "data": data, "gas": hex(500_000)}

    def send(self, tx: dict[str, Any]) -> None:
        receipt(self.url, rpc(self.url, "eth_sendTransaction", [tx]))

    def random_move(self, rng: random.Random, block: int | str = "latest") -> dict[str, Any]:
        """A transfer that is valid on the chain as it stands at `block`: a mint, or a move of what a wallet holds."""
        minted = self.collection.functions.totalSupply().call(block_identifier=block)
        to = rng.choice(self.wallets)
        if rng.random() < 0.5:
            if minted == 0 or rng.random() < 0.3:
                return self.tx(self.collection, "mint", to)
            token_id = rng.randint(1, minted)
            owner = self.collection.functions.ownerOf(token_id).call(block_identifier=block)
            return self.tx(self.collection, "transferFrom", owner, to, token_id)
        token_id = rng.choice(ITEM_IDS)
        holders = [w for w in self.wallets if self.item_balances(w, block)[token_id] > 0]
        if not holders or rng.random() < 0.3:
            return self.tx(self.items, "mint", to, token_id, rng.randint(1, 5))
        sender = rng.choice(holders)
        units = rng.randint(1, self.item_balances(sender, block)[token_id])
        return self.tx(self.items, "safeTransferFrom", sender, to, token_id, units, b"")

    def item_balances(self, wallet: str, block: int | str) -> dict[int, int]:
        answer = self.items.functions.balanceOfBatch([wallet] * len(ITEM_IDS), ITEM_IDS).call(block_identifier=block)
        return dict(zip(ITEM_IDS, answer, strict=True))

    def owners(self, block: int) -> dict[int, str]:
        minted = self.collection.functions.totalSupply().call(block_identifier=block)
        return {
            token_id: str(self.collection.functions.ownerOf(token_id).call(block_identifier=block)).lower()
            for token_id in range(1, minted + 1)
        }

    def config(self) -> ChainConfig:
        contracts = [
            TrackedContract(address=self.collection.address.lower(), standard=Standard.ERC721, label="collection"),
            TrackedContract(address=self.items.address.lower(), standard=Standard.ERC1155, label="items"),
        ]
        return ChainConfig(
            chain_id=31337,
            rpc_url=self.url,
            contracts=contracts,
            max_range=50,
            initial_range=7,
            reorg_window=WINDOW,
        )


def assert_profiles_match_the_chain(lab: NftLab, cursor: int) -> None:
    owners = lab.owners(cursor)
    for wallet in lab.wallets:
        address = wallet.lower()
        stored = load_profile(address, get_settings())
        holdings = {h.standard: h for h in stored[1]} if stored else {}
        expected_ids = sorted(t for t, owner in owners.items() if owner == address)
        nft = holdings.get(Standard.ERC721)
        assert (nft.token_ids if nft else []) == expected_ids, f"ERC-721 ids of {address} at block {cursor}"
        balances = {t: n for t, n in lab.item_balances(wallet, cursor).items() if n}
        items = holdings.get(Standard.ERC1155)
        got = {int(t): n for t, n in items.id_balances.items()} if items else {}
        assert got == balances, f"ERC-1155 balances of {address} at block {cursor}"
        if nft:
            assert nft.balance == len(expected_ids)
            assert sorted(int(t) for t in nft.id_since) == expected_ids, "every held id has a since, and only those"


def test_nft_ids_equal_the_contracts_through_random_reorgs_and_redelivery(
    tmp_path: Any, deployed: Any, template: Template
) -> None:
    rng = random.Random(19)
    with HistoryAnvil(tmp_path / "anvil") as chain:
        # Given two NFT contracts, tracked, and the Events stream delivered to profiles as Lambda would
        lab = NftLab(chain.url)
        config = lab.config()
        settings = settings_for(deployed.events_table, deployed.app_table, config)
        stream = StreamReader(deployed.events_table, template, "ProfilesFunction")
        reorgs = 0
        for _round in range(14):
            # When the community moves tokens, and the newest blocks are often replaced by others
            for _ in range(rng.randint(2, 6)):
                lab.send(lab.random_move(rng))
            if _round and rng.random() < 0.7:
                depth = rng.randint(1, WINDOW - 1)
                base = lab.w3.eth.block_number - depth
                replacements = [[lab.random_move(rng, base), rng.randrange(depth)] for _ in range(rng.randint(1, 3))]
                rpc(chain.url, "anvil_reorg", [depth, replacements])
                reorgs += 1
                if rng.random() < 0.5:
                    lab.send(lab.random_move(rng))  # the chain moves on (else the reorg kept its height)
            summary = ingest_chain(config, settings, fast_options())
            assert summary.stopped == "caught_up"
            # and the stream arrives in batches, some of them delivered twice
            _, records = stream.read()
            images = [(r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in records]
            position = 0
            while position < len(images):
                size = rng.randint(1, 20)
                batch = images[position : position + size]
                apply_images(batch, get_settings())
                if rng.random() < 0.3:
                    apply_images(batch, get_settings())
                position += size

            # Then each wallet's ids and balances are the contracts' own at the cursor
            cursor = CursorStore(deployed.app_table, 31337).load().last_block
            assert cursor == lab.w3.eth.block_number
            assert_profiles_match_the_chain(lab, cursor)
        assert reorgs >= 5


def test_a_reorg_that_keeps_the_height_is_rolled_back_on_the_next_run(
    tmp_path: Any, deployed: Any, moto_endpoint: str, template: Template
) -> None:
    with HistoryAnvil(tmp_path / "anvil") as chain:
        # Given a caught-up ingest, with confirmations 0
        lab = NftLab(chain.url)
        rng = random.Random(7)
        for _ in range(4):
            lab.send(lab.random_move(rng))
        config = lab.config()
        settings = settings_for(deployed.events_table, deployed.app_table, config)
        first = ingest_chain(config, settings, fast_options())
        head = lab.w3.eth.block_number
        before = item_set(deployed.events_table)

        # When the two newest blocks are replaced, at the same height, by a block minting to another wallet
        base = head - 2
        rpc(chain.url, "anvil_reorg", [2, [[lab.tx(lab.collection, "mint", lab.wallets[3]), 0]]])
        assert lab.w3.eth.block_number == head
        assert lab.random_move(rng, base)  # the chain is readable at the ancestor
        second = ingest_chain(config, settings, fast_options())

        # Then the run that sees it, with no new block, rolls it back and ingests the new blocks
        assert first.cursor == head and second.reorgs == 1 and second.orphaned_events >= 1
        assert second.stopped == "caught_up"
        after = item_set(deployed.events_table)
        assert after != before
        assert after == clean_event_items(moto_endpoint, template, config)
