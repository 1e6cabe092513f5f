"""Backfill: SQS range jobs through the same fetch/decode/write code, counted exactly once."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.backfill import RangeJob, backfill_status, drain_queue, open_backfill, run_range_job
from shared.cli import main
from shared.store.dynamo import client
from shared.tracking import tracked_chain
from tests.support.ingest_chain import chain_config, emit_everything, fast_options, item_set, settings_for
from tests.support.ingest_fixtures import clean_event_items, history_chain  # noqa: F401

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_backfill_jobs_fill_the_range_once(history_chain, deployed, moto_endpoint, template) -> None:  # noqa: F811
    chain, f = history_chain
    emit_everything(f)
    config = chain_config(chain.url, f)
    settings = settings_for(deployed.events_table, deployed.app_table, config).model_copy(
        update={"backfill_queue_url": deployed.physical["BackfillQueue"]}
    )
    head = f.w3.eth.block_number

    status = open_backfill(settings, tracked_chain(settings, 31337), 0, head, 6, job_id="job1")
    assert status.total_ranges == -(-(head + 1) // 6)
    handled = drain_queue(settings, fast_options())
    assert handled == status.total_ranges
    done = backfill_status(settings.app_table, "job1")
    assert done.finished and done.done_ranges == done.total_ranges

    # a redelivered job writes the same items again and is not counted twice
    again = run_range_job(RangeJob(job_id="job1", chain_id=31337, from_block=0, to_block=5), settings, fast_options())
    assert not again.counted
    assert backfill_status(settings.app_table, "job1").done_ranges == done.total_ranges
    assert item_set(deployed.events_table) == clean_event_items(moto_endpoint, template, config)


def test_backfill_handler_reports_failures_per_record(history_chain, deployed, monkeypatch) -> None:  # noqa: F811
    chain, f = history_chain
    emit_everything(f)
    config = chain_config(chain.url, f)
    monkeypatch.setenv("KITH_CHAINS", json.dumps([config.model_dump(mode="json")]))
    from shared.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    open_backfill(settings, tracked_chain(settings, 31337), 0, 9, 5, job_id="h1")
    messages = client("sqs").receive_message(QueueUrl=settings.backfill_queue_url, MaxNumberOfMessages=10)["Messages"]
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:BackfillQueue",
            "awsRegion": "us-east-1",
        }
        for m in messages
    ]
    records.append({**records[0], "messageId": "broken", "body": '{"job_id": "h1"}'})
    spec = importlib.util.spec_from_file_location("kith_backfill_handler", ROOT / "functions/backfill/handler.py")
    assert spec and spec.loader
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)

    class Context:
        function_name = "BackfillFunction"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:BackfillFunction"
        aws_request_id = "req"

    answer = handler.lambda_handler({"Records": records}, Context())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "broken"}]}
    assert backfill_status(settings.app_table, "h1").finished


def test_cli_rejects_bad_input_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "backfill", "--chain", "31337", "--from", "5", "--to", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == "error: --from must be <= --to\n"
    missing = subprocess.run(
        [sys.executable, "-m", "shared.cli", "backfill", "--from", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and missing.stderr.startswith("error: ")


def test_cli_backfill_with_local_workers(history_chain, deployed, monkeypatch, capsys) -> None:  # noqa: F811
    chain, f = history_chain
    emit_everything(f)
    monkeypatch.setenv("KITH_CHAINS", json.dumps([chain_config(chain.url, f).model_dump(mode="json")]))
    from shared.settings import get_settings

    get_settings.cache_clear()
    head = f.w3.eth.block_number
    code = main(
        [
            "backfill",
            "--chain",
            "31337",
            "--from",
            "0",
            "--to",
            str(head),
            "--range",
            "10",
            "--work",
            "2",
            "--poll",
            "0.2",
            "--job",
            "cli1",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "backfill cli1: done" in out and "ranges 100%" in err
    assert main(["backfill", "--chain", "31337", "--from", "0", "--to", str(head + 1000)]) == 2
    assert "beyond chain 31337's confirmed head" in capsys.readouterr().err
