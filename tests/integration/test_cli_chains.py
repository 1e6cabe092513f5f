"""The chains CLI against the real table: every_token and start_block are set and shown; bad or contradictory
input is one line on stderr and exit 2, and changes nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shared import tracking
from shared.cli import main
from shared.store.dynamo import client, to_item
from shared.store.keys import cursor_key

pytestmark = pytest.mark.integration

TOKEN = "0x" + "c0" * 20


def _add(*flags: str) -> list[str]:
    return ["chains", "add", "--rpc-parameter", "/kith/rpc/test", *flags]


def test_a_chain_tracking_every_token_from_a_start_block_is_stored_and_listed(deployed, capsys) -> None:
    tracking.forget_cached()
    assert main(_add("--chain", "7", "--name", "seven", "--every-token", "--start-block", "1234")) == 0
    assert "it reads every token" in capsys.readouterr().out

    chain = tracking.load_chain(deployed.app_table, 7)
    assert chain is not None and (chain.every_token, chain.start_block, chain.first_block) == (True, 1234, 1234)
    assert main(["chains", "list"]) == 0
    listed = capsys.readouterr().out
    assert "every token" in listed and "from block 1234" in listed

    # a contract cannot join a chain that reads every token
    assert main(["contracts", "add", "--chain", "7", "--address", TOKEN, "--standard", "erc20"]) == 2
    refused = capsys.readouterr().err.strip().splitlines()
    assert len(refused) == 1 and refused[0].startswith("error:") and "every_token" in refused[0]


def test_every_token_on_a_chain_that_tracks_contracts_is_refused_in_one_line(deployed, capsys) -> None:
    tracking.forget_cached()
    assert main(_add("--chain", "8", "--start-block", "5")) == 0
    assert main(["contracts", "add", "--chain", "8", "--address", TOKEN, "--standard", "erc20"]) == 0
    capsys.readouterr()

    assert main(_add("--chain", "8", "--every-token")) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: --every-token: chain 8 tracks 1 contracts")
    chain = tracking.load_chain(deployed.app_table, 8)
    assert chain is not None and (chain.every_token, chain.start_block, len(chain.contracts)) == (False, 5, 1)


def test_a_changed_start_block_says_the_cursor_stays_where_it_is(deployed, capsys) -> None:
    tracking.forget_cached()
    assert main(_add("--chain", "9", "--every-token", "--start-block", "100")) == 0
    client("dynamodb").put_item(
        TableName=deployed.app_table, Item=to_item({**cursor_key(9), "chain_id": 9, "last_block": 150})
    )
    capsys.readouterr()
    assert main(_add("--chain", "9", "--every-token", "--start-block", "10")) == 0
    assert "its cursor stays at block 150" in capsys.readouterr().out
    assert tracking.ingested_through(deployed.app_table, 9) == 150


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--start-block", "-1"], "--start-block"),
        (["--start-block", "soon"], "--start-block"),
        (["--max-range", "0"], "--max-range"),
    ],
)
def test_bad_chain_input_is_one_line_and_exit_2(deployed, flags: list[str], named: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "shared.cli", *_add("--chain", "10", *flags)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **deployed.env(), "AWS_DEFAULT_REGION": "us-east-1"},
        check=False,
    )
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0]
    tracking.forget_cached()
    assert tracking.load_chain(deployed.app_table, 10) is None
