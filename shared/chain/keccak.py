"""Keccak-256 (Ethereum's hash, not NIST SHA3-256) and EIP-55 checksums, over pycryptodome's C core.

eth_utils offers the same, but importing it pulls in most of web3's dependency tree; the handlers that
only need a hash (topics, blooms, selectors, address checksums) import this instead.
"""

from __future__ import annotations

from Crypto.Hash import keccak as _keccak


def keccak(data: bytes = b"", *, text: str | None = None) -> bytes:
    """The 32-byte Keccak-256 digest of `data`, or of `text` encoded as UTF-8."""
    payload = text.encode("utf-8") if text is not None else data
    return _keccak.new(data=payload, digest_bits=256).digest()


def to_checksum_address(address: str) -> str:
    """The EIP-55 mixed-case form of a 0x-prefixed 20-byte hex address."""
    lowered = address[2:].lower()
    digest = keccak(text=lowered).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(lowered))


def is_checksum_address(address: str) -> bool:
    return len(address) == 42 and address.startswith("0x") and to_checksum_address(address) == address
