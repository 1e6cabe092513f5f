"""The StandardMerkleTree of shared.airdrops.merkle: its shape on small sizes, its proofs and its refusals."""

from __future__ import annotations

import pytest

from shared.airdrops import merkle
from shared.chain.keccak import keccak

A = "0x" + "11" * 20
B = "0x" + "22" * 20
C = "0x" + "33" * 20


def test_a_leaf_is_the_double_hash_of_the_abi_encoded_address_and_amount() -> None:
    encoded = bytes.fromhex("00" * 12 + "11" * 20) + (5).to_bytes(32, "big")
    assert merkle.leaf_hash(A, 5) == keccak(keccak(encoded))


def test_one_leaf_is_its_own_root_with_an_empty_proof() -> None:
    tree = merkle.build([(A, 7)])
    assert tree.root == "0x" + merkle.leaf_hash(A, 7).hex()
    assert tree.proof(0) == []
    assert merkle.verify(tree.root, A, 7, [])


def test_two_leaves_hash_in_sorted_order_whatever_the_input_order() -> None:
    first, second = merkle.build([(A, 1), (B, 2)]), merkle.build([(B, 2), (A, 1)])
    a, b = merkle.leaf_hash(A, 1), merkle.leaf_hash(B, 2)
    assert first.root == second.root == "0x" + keccak(min(a, b) + max(a, b)).hex()


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6, 7, 9, 33])
def test_every_proof_verifies_and_a_changed_amount_or_address_does_not(count: int) -> None:
    values = [("0x" + f"{i + 1:040x}", (i + 1) * 10**18) for i in range(count)]
    tree = merkle.build(values)
    assert len(tree.tree) == 2 * count - 1
    for i, (address, amount) in enumerate(values):
        proof = tree.proof(i)
        assert merkle.verify(tree.root, address, amount, proof)
        assert not merkle.verify(tree.root, address, amount + 1, proof)
        assert not merkle.verify(tree.root, "0x" + "ff" * 20, amount, proof)
    assert tree.index_of(values[-1][0].upper().replace("0X", "0x")) == count - 1


def test_an_odd_tree_leaves_the_lowest_leaf_one_level_higher() -> None:
    tree = merkle.build([(A, 1), (B, 2), (C, 3)])
    depths = sorted(len(tree.proof(i)) for i in range(3))
    assert depths == [1, 2, 2]


def test_an_address_twice_is_refused_in_any_case() -> None:
    with pytest.raises(merkle.TreeError, match="twice"):
        merkle.build([(A, 1), (A.upper().replace("0X", "0x"), 2)])


def test_no_values_a_bad_address_or_an_amount_out_of_range_are_refused() -> None:
    with pytest.raises(merkle.TreeError):
        merkle.build([])
    with pytest.raises(merkle.TreeError):
        merkle.build([("0x1234", 1)])
    with pytest.raises(merkle.TreeError):
        merkle.build([(A, -1)])
    with pytest.raises(merkle.TreeError):
        merkle.build([(A, 1 << 256)])


def test_the_dump_names_the_format_the_encoding_and_each_value_at_its_leaf() -> None:
    tree = merkle.build([(A, 1), (B, 2), (C, 3)])
    dump = tree.dump()
    assert dump["format"] == "standard-v1" and dump["leafEncoding"] == ["address", "uint256"]
    for entry in dump["values"]:
        address, amount = entry["value"]
        assert dump["tree"][entry["treeIndex"]] == "0x" + merkle.leaf_hash(address, int(amount)).hex()
