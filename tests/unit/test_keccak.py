"""shared.chain.keccak agrees with eth_utils (web3's hashing), which no handler imports any more."""

from __future__ import annotations

import eth_utils
from hypothesis import given
from hypothesis import strategies as st

from shared.chain.keccak import is_checksum_address, keccak, to_checksum_address
from shared.chain.metadata import decode_text


@given(st.binary(max_size=300))
def test_keccak_matches_eth_utils(data: bytes) -> None:
    assert keccak(data) == eth_utils.keccak(data)


def test_keccak_of_text_and_a_known_topic() -> None:
    # the ERC-20 Transfer topic everyone knows by heart
    assert keccak(text="Transfer(address,address,uint256)").hex() == (
        "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    )


@given(st.binary(min_size=20, max_size=20))
def test_checksum_matches_eth_utils(raw: bytes) -> None:
    address = "0x" + raw.hex()
    expected = eth_utils.to_checksum_address(address)
    assert to_checksum_address(address) == expected
    assert is_checksum_address(expected)
    assert is_checksum_address(address) == eth_utils.is_checksum_address(address)


def test_decode_text_reads_abi_strings_and_bytes32() -> None:
    text = "Kith Token"
    encoded = (32).to_bytes(32, "big") + len(text).to_bytes(32, "big") + text.encode().ljust(32, b"\x00")
    assert decode_text(encoded) == "Kith Token"
    assert decode_text(b"MKR".ljust(32, b"\x00")) == "MKR"
    assert decode_text(b"") is None
    # an offset pointing past the answer is neither a string nor a clean bytes32
    assert decode_text((999).to_bytes(32, "big") + b"\x01" * 32) is None
