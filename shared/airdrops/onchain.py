"""The chain reads of airdrops: the final block, balances at a block and a distributor's state.

Every read goes through shared.chain.rpc's client, whose session is the egress guard's
(shared/egress.py), with its retries and JSON-RPC batching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.chain.endpoints import resolve_rpc_url
from shared.chain.keccak import keccak
from shared.chain.rpc import Header, RpcClient
from shared.settings import ChainConfig

BALANCE_OF = "0x" + keccak(text="balanceOf(address)")[:4].hex()
MERKLE_ROOT = "0x" + keccak(text="merkleRoot()")[:4].hex()
TOKEN = "0x" + keccak(text="token()")[:4].hex()
CALLS_PER_BATCH = 100


@dataclass(frozen=True)
class Finality:
    head: int
    final: int  # the highest block ingestion treats as settled (docs/architecture.md, "Ingestion")


def client_for(chain: ChainConfig) -> RpcClient:
    return RpcClient(resolve_rpc_url(chain), chain.chain_id)


def finality(chain: ChainConfig, client: RpcClient) -> Finality:
    """The same rule as ingestion's confirmed target: head - confirmations, or the `finalized` block."""
    head = client.block_number()
    final = client.header("finalized").number if chain.use_finalized_tag else head - chain.confirmations
    return Finality(head=head, final=final)


def header(client: RpcClient, block: int) -> Header:
    return client.header(block)


def _word(result: object) -> int:
    text = str(result)
    if not text.startswith("0x") or len(text) != 66:
        raise ValueError(f"expected one 32-byte word, got {text[:80]!r}")
    return int(text, 16)


def balances_at(client: RpcClient, token: str, addresses: Sequence[str], block: int) -> list[int]:
    """balanceOf of each address at `block`, in JSON-RPC batches of CALLS_PER_BATCH eth_calls."""
    balances: list[int] = []
    for start in range(0, len(addresses), CALLS_PER_BATCH):
        chunk = addresses[start : start + CALLS_PER_BATCH]
        calls = [
            ("eth_call", [{"to": token, "data": BALANCE_OF + a[2:].lower().rjust(64, "0")}, hex(block)]) for a in chunk
        ]
        balances.extend(_word(result) for result in client.batch(calls))
    return balances


def distributor_state(client: RpcClient, distributor: str) -> tuple[str, str]:
    """(merkleRoot, token) of a distributor, read at the chain's head."""
    root, token = client.batch(
        [
            ("eth_call", [{"to": distributor, "data": MERKLE_ROOT}, "latest"]),
            ("eth_call", [{"to": distributor, "data": TOKEN}, "latest"]),
        ]
    )
    return "0x" + f"{_word(root):064x}", "0x" + f"{_word(token):064x}"[24:]
