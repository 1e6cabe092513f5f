"""The 2048-bit logsBloom of a block header: can a log of this address with this topic be in it?

Used to refuse an empty eth_getLogs answer from a lagging node: a bloom never misses a present
log, so "empty" is only believable when no block's bloom admits a tracked address and topic.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.chain.keccak import keccak


def bloom_bits(value: bytes) -> int:
    """The three bits an item sets, as a mask over the bloom read as one big-endian integer."""
    digest = keccak(value)
    mask = 0
    for i in (0, 2, 4):
        mask |= 1 << (((digest[i] << 8) | digest[i + 1]) & 2047)
    return mask


def hex_item(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


class BloomFilter:
    """Tracked addresses and topic0s, pre-hashed once per chain; `addresses=None` admits any address."""

    def __init__(self, addresses: Iterable[str] | None, topics: Iterable[str]) -> None:
        self.any_address = addresses is None
        self.address_masks = [bloom_bits(hex_item(a)) for a in addresses or ()]
        self.topic_masks = [bloom_bits(hex_item(t)) for t in topics]

    def may_contain(self, logs_bloom: str) -> bool:
        bloom = int(logs_bloom, 16) if logs_bloom not in ("", "0x") else 0
        if bloom == 0:
            return False
        address_admitted = self.any_address or any(bloom & m == m for m in self.address_masks)
        return address_admitted and any(bloom & m == m for m in self.topic_masks)
