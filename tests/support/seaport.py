"""A real Seaport 1.6 market on anvil: the committed artifact deployed, orders signed with EIP-712 by
anvil's well-known keys and fulfilled on chain, and the balances they move read back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3
from web3.contract import Contract

from infra.contracts.compile import Artifact, compile_sources
from infra.contracts.deploy import deploy, transact

ROOT = Path(__file__).resolve().parents[2]
SEAPORT_ARTIFACT = ROOT / "infra" / "contracts" / "seaport" / "Seaport-1.6.json"
FIXTURES = ROOT / "tests" / "contracts" / "seaport" / "SeaportFixtures.sol"
CACHE = ROOT / ".state" / "solc-cache"
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ZERO = "0x0000000000000000000000000000000000000000"
ZERO_BYTES32 = b"\x00" * 32
NATIVE, ERC20, ERC721 = 0, 1, 2
FULL_OPEN = 0

ORDER_TYPES = {
    "OrderComponents": [
        {"name": "offerer", "type": "address"},
        {"name": "zone", "type": "address"},
        {"name": "offer", "type": "OfferItem[]"},
        {"name": "consideration", "type": "ConsiderationItem[]"},
        {"name": "orderType", "type": "uint8"},
        {"name": "startTime", "type": "uint256"},
        {"name": "endTime", "type": "uint256"},
        {"name": "zoneHash", "type": "bytes32"},
        {"name": "salt", "type": "uint256"},
        {"name": "conduitKey", "type": "bytes32"},
        {"name": "counter", "type": "uint256"},
    ],
    "OfferItem": [
        {"name": "itemType", "type": "uint8"},
        {"name": "token", "type": "address"},
        {"name": "identifierOrCriteria", "type": "uint256"},
        {"name": "startAmount", "type": "uint256"},
        {"name": "endAmount", "type": "uint256"},
    ],
    "ConsiderationItem": [
        {"name": "itemType", "type": "uint8"},
        {"name": "token", "type": "address"},
        {"name": "identifierOrCriteria", "type": "uint256"},
        {"name": "startAmount", "type": "uint256"},
        {"name": "endAmount", "type": "uint256"},
        {"name": "recipient", "type": "address"},
    ],
}


def anvil_keys(count: int) -> list[Any]:
    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)]


def seaport_artifacts() -> dict[str, Artifact]:
    built = json.loads(SEAPORT_ARTIFACT.read_text())["contracts"]
    return {name: Artifact(name, c["abi"], c["bytecode"]) for name, c in built.items()}


@dataclass(frozen=True)
class Item:
    item_type: int
    token: str
    identifier: int
    amount: int
    recipient: str | None = None  # consideration items only


@dataclass
class Market:
    """Seaport with its conduit controller, a royalty-paying collection, a payment token and the roles."""

    w3: Web3
    seaport: Contract
    collection: Contract
    payment: Contract
    keys: list[Any]
    fee_recipient: str
    creator: str
    salt: int = 0
    receipts: list[Any] = field(default_factory=list)

    def address(self, index: int) -> str:
        return str(self.keys[index].address).lower()

    def balance(self, wallet: str, currency: str) -> int:
        if currency == ZERO:
            return int(self.w3.eth.get_balance(Web3.to_checksum_address(wallet)))
        return int(self.payment.functions.balanceOf(Web3.to_checksum_address(wallet)).call())

    def royalty(self, token_id: int, price: int) -> tuple[str, int]:
        receiver, amount = self.collection.functions.royaltyInfo(token_id, price).call()
        return str(receiver).lower(), int(amount)

    def mint(self, to: str, token_id: int) -> None:
        transact(self.w3, self.collection, "mint", to, token_id, sender=to)

    def fund(self, wallet: str, amount: int) -> None:
        transact(self.w3, self.payment, "mint", wallet, amount, sender=wallet)
        transact(self.w3, self.payment, "approve", self.seaport.address, 2**256 - 1, sender=wallet)

    def approve_nfts(self, wallet: str) -> None:
        transact(self.w3, self.collection, "setApprovalForAll", self.seaport.address, True, sender=wallet)

    def fulfil(self, offerer: int, offer: list[Item], consideration: list[Item], fulfiller: str) -> Any:
        """Sign an order as anvil key `offerer` and fulfil it with `fulfillOrder`, paying any native items."""
        key = self.keys[offerer]
        self.salt += 1
        now = int(self.w3.eth.get_block("latest")["timestamp"])
        offer_values = [
            {
                "itemType": i.item_type,
                "token": Web3.to_checksum_address(i.token),
                "identifierOrCriteria": i.identifier,
                "startAmount": i.amount,
                "endAmount": i.amount,
            }
            for i in offer
        ]
        consideration_values = [
            {
                "itemType": i.item_type,
                "token": Web3.to_checksum_address(i.token),
                "identifierOrCriteria": i.identifier,
                "startAmount": i.amount,
                "endAmount": i.amount,
                "recipient": Web3.to_checksum_address(i.recipient or ZERO),
            }
            for i in consideration
        ]
        counter = self.seaport.functions.getCounter(key.address).call()
        components = {
            "offerer": key.address,
            "zone": Web3.to_checksum_address(ZERO),
            "offer": offer_values,
            "consideration": consideration_values,
            "orderType": FULL_OPEN,
            "startTime": now - 60,
            "endTime": now + 365 * 86_400,
            "zoneHash": ZERO_BYTES32,
            "salt": self.salt,
            "conduitKey": ZERO_BYTES32,
            "counter": counter,
        }
        domain = {
            "name": "Seaport",
            "version": "1.6",
            "chainId": self.w3.eth.chain_id,
            "verifyingContract": self.seaport.address,
        }
        signed = Account.sign_typed_data(key.key, domain, ORDER_TYPES, components)
        parameters = (
            key.address,
            components["zone"],
            [tuple(v.values()) for v in offer_values],
            [tuple(v.values()) for v in consideration_values],
            FULL_OPEN,
            components["startTime"],
            components["endTime"],
            ZERO_BYTES32,
            self.salt,
            ZERO_BYTES32,
            len(consideration_values),
        )
        value = sum(i.amount for i in consideration if i.item_type == NATIVE)
        tx = self.seaport.functions.fulfillOrder((parameters, signed.signature), ZERO_BYTES32).transact(
            {"from": Web3.to_checksum_address(fulfiller), "value": value}
        )
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        assert receipt["status"] == 1
        self.receipts.append(receipt)
        return receipt

    def gas_cost(self, receipt: Any) -> int:
        return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def deploy_market(url: str, royalty_bps: int = 500) -> Market:
    w3 = Web3(Web3.HTTPProvider(url))
    keys = anvil_keys(8)
    deployer = str(keys[0].address).lower()
    built = seaport_artifacts()
    controller = deploy(w3, built["ConduitController"], sender=deployer)
    seaport = deploy(w3, built["Seaport"], controller.address, sender=deployer)
    fixtures = compile_sources([FIXTURES], CACHE)
    creator, fee_recipient = str(keys[6].address).lower(), str(keys[7].address).lower()
    collection = deploy(w3, fixtures["RoyaltyCollection"], creator, royalty_bps, sender=deployer)
    payment = deploy(w3, fixtures["PaymentToken"], sender=deployer)
    return Market(w3, seaport, collection, payment, keys, fee_recipient, creator)
