"""`python -m shared.cli contacts import` against moto: progress, per-line errors, a non-zero exit on rejects."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import cli, contacts
from shared.settings import get_settings
from tests.conftest import Deployed


def test_contacts_import_reports_each_rejected_line_and_exits_non_zero(
    deployed: Deployed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file with two good rows and one bad address
    good_a, good_b = "0x" + "a" * 40, "0x" + "b" * 40
    path = tmp_path / "allowlist.csv"
    path.write_text(f"wallet,email,consent\n{good_a},a@example.org,email\n0x12,b@example.org,\n{good_b},,\n")
    # When it is imported from the command line
    code = cli.main(["contacts", "import", str(path), "--source", "allowlist"])
    # Then the good rows are contacts, the bad line is named, and the exit code says something was rejected
    out, err = capsys.readouterr()
    assert code == cli.EXIT_FAILED
    assert "3 rows: 2 created, 0 updated, 0 unchanged, 1 rejected" in out
    assert "line 3: wallets:" in err and "3/3 rows" in err
    assert contacts.contacts_of_wallet(good_a, get_settings())[0].source == "allowlist"


def test_a_missing_file_is_one_line_and_a_non_zero_exit(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["contacts", "import", "/nonexistent.csv"]) != 0
    assert capsys.readouterr().err.strip().count("\n") == 0
