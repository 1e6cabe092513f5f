"""Ingestion of a chain with known events: each appears exactly once, exactly right (anvil + moto)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from infra.contracts.deploy import deploy, load_artifacts, transact
from shared import ingest
from shared.chain.codec import event_from_item
from shared.chain.reader import ChainReader, FetchedRange
from shared.chain.rpc import RpcClient
from shared.events import LendingEvent, Standard, TokenTransfer, VoteCast
from shared.ingest import ingest_all, ingest_chain, metric_values
from shared.store.dynamo import client, from_item, to_item
from shared.store.keys import cursor_key, token_meta_key
from tests.support.ingest_chain import (
    BIG,
    ZERO,
    A,
    B,
    C,
    chain_config,
    emit_everything,
    fast_options,
    scan_items,
    settings_for,
)
from tests.support.ingest_fixtures import history_chain  # noqa: F401

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_every_event_exactly_once_with_exact_values(history_chain, deployed) -> None:  # noqa: F811
    # Given a chain with one event of every shape, amounts above 2**200, and a malformed log
    chain, f = history_chain
    emit_everything(f)
    config = chain_config(chain.url, f)
    settings = settings_for(deployed.events_table, deployed.app_table, config)

    # When it is ingested
    summary = ingest_chain(config, settings, fast_options())

    # Then every event is stored once, with the right standard, amount and block time
    items = scan_items(deployed.events_table)
    events = [event_from_item(i) for i in items]
    assert len({e.event_id for e in events}) == len(events) == 21
    assert summary.malformed == 1 and summary.ignored == 0
    assert 0 < summary.metadata_requests <= summary.ranges
    assert summary.stopped == "caught_up" and summary.cursor == summary.head
    assert dict(summary.events) == {"transfer": 11, "vote": 2, "lending": 8}

    rpc = RpcClient(chain.url, 31337)
    headers = rpc.headers(sorted({e.block_number for e in events}))
    for event in events:
        assert event.block_hash == headers[event.block_number].hash
        assert event.block_time == headers[event.block_number].timestamp

    addr = {k: c.address.lower() for k, c in f.contracts.items()}
    transfers = sorted(
        (e.contract, e.standard, e.from_address, e.to_address, e.token_id, e.amount, e.decimals, e.symbol, e.sub_index)
        for e in events
        if isinstance(e, TokenTransfer)
    )
    assert transfers == sorted(
        [
            (addr["erc20"], Standard.ERC20, ZERO, A, None, 5 * 10**18, 18, "KITH", 0),
            (addr["erc20"], Standard.ERC20, A, B, None, BIG, 18, "KITH", 0),
            (addr["bytes32"], Standard.ERC20, A, C, None, 77, 18, "MKR", 0),
            (addr["nodec"], Standard.ERC20, B, C, None, 3, None, "NODEC", 0),
            (addr["erc721"], Standard.ERC721, ZERO, A, 1, 1, None, "FIXC", 0),
            (addr["erc721"], Standard.ERC721, ZERO, A, 2**255 + 1, 1, None, "FIXC", 0),
            (addr["erc721"], Standard.ERC721, A, B, 1, 1, None, "FIXC", 0),
            (addr["erc1155"], Standard.ERC1155, ZERO, A, 7, 2**201, None, None, 0),
            (addr["erc1155"], Standard.ERC1155, A, B, 1, 10, None, None, 0),
            (addr["erc1155"], Standard.ERC1155, A, B, 2, 2**210, None, None, 1),
            (addr["erc1155"], Standard.ERC1155, A, B, 3, 30, None, None, 2),
        ]
    )
    me = f.account.lower()
    votes = sorted((e.voter, e.proposal_id, e.support, e.weight, e.reason) for e in events if isinstance(e, VoteCast))
    assert votes == [(me, 42, 1, 2**220, "for, obviously \u2713"), (me, 43, 0, 5, "")]
    lending = sorted(
        (e.action, e.reserve, e.user, e.amount, e.collateral_asset, e.liquidated_collateral, e.liquidator)
        for e in events
        if isinstance(e, LendingEvent)
    )
    assert lending == sorted(
        [
            ("supply", C, A, 2**202, None, 0, None),
            ("withdraw", C, me, 11, None, 0, None),
            ("borrow", B, A, 12, None, 0, None),
            ("repay", B, A, 13, None, 0, None),
            ("liquidation", B, A, 14, C, 15, me),
            ("collateral_enabled", C, me, 0, None, 0, None),
            ("collateral_disabled", C, me, 0, None, 0, None),
            ("reserve_data_updated", C, ZERO, 0, None, 0, None),
        ]
    )
    # and items carry kind and uint256 as decimal strings
    raw = next(i for i in items if i.get("amount") == str(BIG))
    assert raw["kind"] == "transfer" and raw["standard"] == "erc20"

    # token metadata is cached in the App table
    meta = client("dynamodb").get_item(TableName=deployed.app_table, Key=to_item(token_meta_key(31337, addr["nodec"])))
    assert from_item(meta["Item"])["symbol"] == "NODEC" and "decimals" not in from_item(meta["Item"])

    # a second run finds nothing new and changes nothing
    again = ingest_chain(config, settings, fast_options())
    assert again.ranges == 0 and len(scan_items(deployed.events_table)) == 21
    cursor = from_item(
        client("dynamodb").get_item(TableName=deployed.app_table, Key=to_item(cursor_key(31337)))["Item"]
    )
    assert cursor["last_block"] == summary.head
    assert len(cursor["window"]) == config.reorg_window
    assert metric_values(ingest_all(settings, options=fast_options()))["Blocks"] == 0


def test_confirmations_hold_back_the_newest_blocks(history_chain, deployed) -> None:  # noqa: F811
    chain, f = history_chain
    emit_everything(f)
    config = chain_config(chain.url, f, confirmations=5)
    settings = settings_for(deployed.events_table, deployed.app_table, config)
    summary = ingest_chain(config, settings, fast_options())
    assert summary.cursor == summary.head - 5
    assert max(event_from_item(i).block_number for i in scan_items(deployed.events_table)) <= summary.head - 5


class _Context:
    """The two LambdaContext members the handler and Powertools read."""

    function_name = "IngestFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IngestFunction"
    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 50_000


def _load_handler(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"kith_test_{name}_handler", ROOT / "functions" / name / "handler.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scheduled_handler_ingests_and_emits_metrics(history_chain, deployed, monkeypatch, capsys) -> None:  # noqa: F811
    chain, f = history_chain
    emit_everything(f)
    config = chain_config(chain.url, f)
    monkeypatch.setenv("KITH_CHAINS", json.dumps([config.model_dump(mode="json")]))
    from shared.settings import get_settings

    get_settings.cache_clear()
    handler = _load_handler("ingest")
    result = handler.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, _Context())
    assert result["chains"][0]["events"] == {"transfer": 11, "vote": 2, "lending": 8}
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["Name"] for doc in emitted for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {
        "Blocks",
        "Logs",
        "EventsTransfer",
        "MalformedLogs",
        "IgnoredLogs",
        "MetadataRequests",
        "RpcRetries",
        "LagBlocks",
        "ReorgTooDeep",
    } <= names


def _with_every_shape(chain_and_fixtures: Any, deployed: Any) -> tuple[Any, Any]:
    """The chain with one event of every shape emitted, its config and the deployment's settings."""
    chain, f = chain_and_fixtures
    emit_everything(f)
    config = chain_config(chain.url, f)
    return config, settings_for(deployed.events_table, deployed.app_table, config)


def test_a_range_cut_to_its_log_budget_stores_the_same_events(history_chain, deployed) -> None:  # noqa: F811
    # Given the chain with one event of every shape
    config, settings = _with_every_shape(history_chain, deployed)

    # When it is ingested with ranges of at most three logs (a run that could write no more in its time)
    summary = ingest_chain(config, settings, fast_options(max_logs_per_range=3))

    # Then it took more ranges, each checkpointed, and stored every event once, as an uncut run does
    events = [event_from_item(i) for i in scan_items(deployed.events_table)]
    assert summary.stopped == "caught_up" and summary.cursor == summary.head
    assert summary.ranges >= 7
    assert len({e.event_id for e in events}) == len(events) == 21
    assert dict(summary.events) == {"transfer": 11, "vote": 2, "lending": 8} and summary.malformed == 1


def test_a_run_that_does_not_know_its_write_rate_yet_keeps_its_ranges_small(
    history_chain,  # noqa: F811
    deployed,
    monkeypatch,
) -> None:
    # Given the chain with one event of every shape, and a run whose time is bounded (a Lambda's) but
    # whose write rate is never learnt (more logs than the chain has are needed to measure it)
    config, settings = _with_every_shape(history_chain, deployed)
    monkeypatch.setattr(ingest, "MIN_LOGS_FOR_A_RATE", 1_000)
    monkeypatch.setattr(ingest, "FIRST_RANGE_LOGS", 3)

    # When it is ingested with plenty of time and the usual cap
    summary = ingest.ingest_chain(config, settings, fast_options(), time_left=lambda: 600.0)

    # Then no range carried more than the first-range size, and every event is stored once
    events = [event_from_item(i) for i in scan_items(deployed.events_table)]
    assert summary.stopped == "caught_up" and summary.cursor == summary.head
    assert summary.ranges >= 7
    assert len({e.event_id for e in events}) == len(events) == 21


def test_a_run_short_of_time_cuts_its_ranges_to_what_its_write_rate_affords(
    history_chain,  # noqa: F811
    deployed,
    monkeypatch,
) -> None:
    # Given the chain with one event of every shape, and a run that learns its write rate from its first range
    config, settings = _with_every_shape(history_chain, deployed)
    monkeypatch.setattr(ingest, "MIN_LOGS_FOR_A_RATE", 1)
    uncut = ingest_chain(config, settings, fast_options(stop_at_block=0))  # the deployment blocks only
    assert uncut.cursor == 0

    # When it has almost no time left at every range (a millisecond: far less than a range of many logs takes)
    summary = ingest.ingest_chain(config, settings, fast_options(), time_left=lambda: 0.001)

    # Then each range after the first carries one block's logs, and nothing is lost
    blocks_with_logs = len({e.block_number for e in map(event_from_item, scan_items(deployed.events_table))})
    assert summary.stopped == "caught_up" and summary.cursor == summary.head
    assert summary.ranges >= blocks_with_logs
    assert dict(summary.events) == {"transfer": 11, "vote": 2, "lending": 8}


def test_logs_of_no_known_shape_are_ignored_and_a_broken_transfer_is_malformed(history_chain, deployed) -> None:  # noqa: F811
    # Given every decoded shape and one malformed Transfer, beside an Approval (a shape Kith does not decode)
    chain, f = history_chain
    emit_everything(f)
    w3 = Web3(Web3.HTTPProvider(chain.url))
    owner = w3.eth.accounts[0]
    token = deploy(w3, load_artifacts()["NoDecimalsToken"], "Bare", "BARE", sender=owner)
    transact(w3, token, "approve", "0x" + "a1" * 20, 5, sender=owner)
    config = chain_config(chain.url, f)
    reader = ChainReader(config, settings_for(deployed.events_table, deployed.app_table, config))

    # When every log of the chain, from any contract with any topic, is decoded
    head = reader.rpc.block_number()
    logs = reader.rpc.get_logs(0, head, [], [])
    decoded = reader.decode(FetchedRange(0, head, logs, reader.rpc.headers(range(head + 1))))
    reader.close()

    # Then the Approval is ignored, the broken Transfer malformed, and the rest decoded
    assert (decoded.ignored, decoded.malformed, len(decoded.events)) == (1, 1, 21)
