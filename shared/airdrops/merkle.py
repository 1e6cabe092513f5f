"""OpenZeppelin's StandardMerkleTree for leaves of type ["address", "uint256"], in pure Python.

Byte for byte what `StandardMerkleTree.of(values, ["address", "uint256"])` of `@openzeppelin/merkle-tree`
1.0.8 builds with its default `sortLeaves: true`, so a root, a proof and a dump made here verify there
and in `MerkleProof.verify` on chain (docs/architecture.md, "Airdrops"):

  * a leaf is `keccak256(keccak256(abi.encode(address, uint256)))`;
  * a node is `keccak256` of its two children, the smaller first (sorted-pair hashing);
  * the leaves are sorted by hash and laid out as a complete binary tree in one array, the root at
    index 0, the children of node i at 2i+1 and 2i+2, and the i-th sorted leaf at len(tree) - 1 - i.

Two rows for one address would give one account two leaves, and a distributor lets an account claim
once, so they are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.chain.keccak import keccak

LEAF_ENCODING: tuple[str, str] = ("address", "uint256")
UINT256_MAX = (1 << 256) - 1


class TreeError(ValueError):
    """The values cannot form a tree (none, a bad address or amount, an address twice)."""


def _address_bytes(address: str) -> bytes:
    if not (isinstance(address, str) and address.startswith("0x") and len(address) == 42):
        raise TreeError(f"{address!r} is not a 0x-prefixed 20-byte hex address")
    try:
        return bytes.fromhex(address[2:])
    except ValueError:
        raise TreeError(f"{address!r} is not a 0x-prefixed 20-byte hex address") from None


def leaf_hash(address: str, amount: int) -> bytes:
    """keccak256(keccak256(abi.encode(address, uint256)))."""
    if not 0 <= amount <= UINT256_MAX:
        raise TreeError(f"amount {amount} is not a uint256")
    encoded = _address_bytes(address).rjust(32, b"\0") + amount.to_bytes(32, "big")
    return keccak(keccak(encoded))


def node_hash(a: bytes, b: bytes) -> bytes:
    return keccak(a + b if a <= b else b + a)


def _hex(node: bytes) -> str:
    return "0x" + node.hex()


@dataclass(frozen=True)
class MerkleTree:
    """The tree array (root first) and, per value in input order, the index of its leaf in the array."""

    tree: tuple[bytes, ...]
    values: tuple[tuple[str, int], ...]
    tree_indices: tuple[int, ...]

    @property
    def root(self) -> str:
        return _hex(self.tree[0])

    def index_of(self, address: str) -> int:
        """The value index of `address` (any case); KeyError when it is not in the tree."""
        wanted = address.lower()
        for i, (value_address, _) in enumerate(self.values):
            if value_address.lower() == wanted:
                return i
        raise KeyError(address)

    def proof(self, value_index: int) -> list[str]:
        """The sibling hashes from the leaf up to (not including) the root, as getProof returns them."""
        index = self.tree_indices[value_index]
        proof: list[str] = []
        while index > 0:
            sibling = index - 1 if index % 2 == 0 else index + 1
            proof.append(_hex(self.tree[sibling]))
            index = (index - 1) // 2
        return proof

    def dump(self) -> dict[str, Any]:
        """The `standard-v1` document `StandardMerkleTree.load` reads (amounts as decimal strings)."""
        return {
            "format": "standard-v1",
            "leafEncoding": list(LEAF_ENCODING),
            "tree": [_hex(node) for node in self.tree],
            "values": [
                {"value": [address, str(amount)], "treeIndex": tree_index}
                for (address, amount), tree_index in zip(self.values, self.tree_indices, strict=True)
            ],
        }


def build(values: Sequence[tuple[str, int]]) -> MerkleTree:
    """The tree of (address, amount) values, as `StandardMerkleTree.of` lays it out."""
    if not values:
        raise TreeError("a Merkle tree needs at least one value")
    seen: set[str] = set()
    for address, _ in values:
        lowered = address.lower()
        if lowered in seen:
            raise TreeError(f"{address} appears twice: an account has one leaf")
        seen.add(lowered)
    hashes = [leaf_hash(address, amount) for address, amount in values]
    # a stable sort by hash, as the library's Array.prototype.sort over compare(a.hash, b.hash)
    order = sorted(range(len(values)), key=lambda i: hashes[i])
    size = 2 * len(values) - 1
    tree: list[bytes] = [b""] * size
    tree_indices = [0] * len(values)
    for leaf_index, value_index in enumerate(order):
        tree[size - 1 - leaf_index] = hashes[value_index]
        tree_indices[value_index] = size - 1 - leaf_index
    for i in range(size - 1 - len(values), -1, -1):
        tree[i] = node_hash(tree[2 * i + 1], tree[2 * i + 2])
    return MerkleTree(tuple(tree), tuple((a, int(n)) for a, n in values), tuple(tree_indices))


def verify(root: str, address: str, amount: int, proof: Sequence[str]) -> bool:
    """What `MerkleProof.verify(proof, root, leaf)` answers on chain."""
    node = leaf_hash(address, amount)
    for sibling in proof:
        node = node_hash(node, bytes.fromhex(sibling.removeprefix("0x")))
    return _hex(node) == root.lower()
