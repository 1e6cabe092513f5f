"""Token metadata of many contracts read in JSON-RPC batches from anvil, with the HTTP requests counted at the
reader's own session, and retried through a real faulty proxy."""

from __future__ import annotations

from typing import Any

import pytest

from shared.chain.decode import TokenMeta
from shared.chain.metadata import MetadataReader, clear_memory_cache
from shared.store.dynamo import client, to_item
from shared.store.keys import token_meta_key
from tests.support.ingest_chain import deploy_tokens
from tests.support.ingest_fixtures import history_chain  # noqa: F401
from tests.support.rpc_fault_proxy import FaultProxy

pytestmark = pytest.mark.integration
NOTHING = TokenMeta(name=None, symbol=None, decimals=None)


def count_posts(monkeypatch: pytest.MonkeyPatch, reader: MetadataReader) -> list[str]:
    """Every HTTP request the reader's real session sends, recorded on its way out."""
    sent: list[str] = []
    post = reader.rpc.session.post

    def counting(url: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(url)
        return post(url, *args, **kwargs)

    monkeypatch.setattr(reader.rpc.session, "post", counting)
    return sent


def test_metadata_of_many_contracts_takes_one_http_request_a_hundred(history_chain, deployed, monkeypatch) -> None:  # noqa: F811
    # Given 150 string tokens, an MKR-style bytes32 token, a token without decimals() and a contract with no getter
    chain, f = history_chain
    tokens = deploy_tokens(chain.url, 150)
    odd = {k: f.contracts[k].address.lower() for k in ("bytes32", "nodec", "governor")}
    clear_memory_cache()
    reader = MetadataReader(chain.url, 31337, deployed.app_table)
    sent = count_posts(monkeypatch, reader)

    # When the metadata of all 153 is read
    metas = reader.get_many([*tokens, *odd.values()])

    # Then it took two HTTP requests, and every getter was read as the single-call reader read it
    assert len(sent) == reader.http_requests == 2
    assert metas[tokens[0]] == TokenMeta(name="Token 0", symbol="T0", decimals=6)
    assert metas[tokens[149]] == TokenMeta(name="Token 149", symbol="T149", decimals=6 + 149 % 13)
    assert metas[odd["bytes32"]] == TokenMeta(name="Maker", symbol="MKR", decimals=18)
    assert metas[odd["nodec"]] == TokenMeta(name="No Decimals", symbol="NODEC", decimals=None)
    assert metas[odd["governor"]] == NOTHING
    assert reader.read_chain(odd["nodec"]) == metas[odd["nodec"]] and len(sent) == 3

    # and a second read comes from memory, then (memory cleared) from the App table, with no request at all
    assert reader.get_many(tokens) == {t: metas[t] for t in tokens}
    clear_memory_cache()
    assert reader.get_many([*tokens, *odd.values()]) == metas and reader.get(odd["bytes32"]) == metas[odd["bytes32"]]
    assert len(sent) == 3
    reader.close()


def test_a_flaky_node_is_asked_again_for_what_it_left_unanswered(history_chain, deployed, monkeypatch) -> None:  # noqa: F811
    # Given a proxy that answers 429, then half a batch, then a null entry, then an internal error, then a cut body
    chain, _ = history_chain
    tokens = deploy_tokens(chain.url, 30)
    clear_memory_cache()
    with FaultProxy(chain.url, ["429", "truncate", "null", "internal", "reset", "ok"]) as proxy:
        reader = MetadataReader(proxy.url, 31337, deployed.app_table, attempts=8)
        sent = count_posts(monkeypatch, reader)

        # When the metadata of 30 tokens is read through it
        metas = reader.get_many(tokens)
        reader.close()

    # Then every fault was met and retried, one request a try, and every answer is right
    assert {"429", "truncate", "null", "internal", "reset"} <= set(proxy.injected)
    assert len(sent) == 6
    assert [metas[t] for t in tokens] == [TokenMeta(f"Token {i}", f"T{i}", 6 + i % 13) for i in range(30)]


def test_exhausted_retries_raise_and_cache_nothing(history_chain, deployed) -> None:  # noqa: F811
    chain, _ = history_chain
    tokens = deploy_tokens(chain.url, 3)
    clear_memory_cache()
    with FaultProxy(chain.url, ["internal"]) as proxy:
        reader = MetadataReader(proxy.url, 31337, deployed.app_table, attempts=3)
        with pytest.raises(RuntimeError, match=r"chain 31337: reading metadata of 0x[0-9a-f]{40} failed: internal"):
            reader.get_many(tokens)
        reader.close()
    keys = [token_meta_key(31337, t) for t in tokens]
    assert ["Item" in client("dynamodb").get_item(TableName=deployed.app_table, Key=to_item(k)) for k in keys] == [
        False
    ] * 3
