"""F5: an RPC URL carries the provider's key in its path; no error, log line or ingest result may quote it."""

from __future__ import annotations

import logging

import pytest

from shared.chain.rpc import RetryPolicy, RpcClient, RpcFailed
from shared.ingest import IngestOptions, ingest_all
from shared.settings import settings_from_env

KEY = "k3yInThePath0123456789"
# nothing listens on port 9 of loopback: every call fails with a connection error that names the URL
URL = f"http://127.0.0.1:9/v2/{KEY}?apikey={KEY}"


def test_a_failing_rpc_call_names_the_chain_and_method_but_not_the_key() -> None:
    client = RpcClient(URL, 31337, policy=RetryPolicy(max_attempts=2, base_delay=0.0, timeout=1.0))
    with pytest.raises(RpcFailed) as raised:
        client.block_number()
    text = str(raised.value)
    assert "chain 31337" in text and "eth_blockNumber" in text
    assert KEY not in text
    assert raised.value.__cause__ is None or KEY not in str(raised.value.__cause__)


def test_the_ingest_result_and_its_log_do_not_quote_the_url(caplog: pytest.LogCaptureFixture) -> None:
    # no App table: the chain is taken as configured (shared.tracking keeps chains in the table otherwise)
    # (one tracked contract: a chain with none is not read at all)
    contract = '{"address": "0x' + "11" * 20 + '", "standard": "erc20"}'
    chains = f'[{{"chain_id": 31337, "rpc_url": "{URL}", "contracts": [{contract}]}}]'
    settings = settings_from_env({"EVENTS_TABLE": "e", "KITH_CHAINS": chains})
    options = IngestOptions(rpc=RetryPolicy(max_attempts=1, base_delay=0.0, timeout=1.0))
    with caplog.at_level(logging.DEBUG):
        summary = ingest_all(settings, options=options, raise_on_failure=False)
    [chain] = summary.chains
    assert chain.error
    assert KEY not in chain.error
    assert KEY not in caplog.text
