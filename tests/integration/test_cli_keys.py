"""The keys CLI: bootstrap an admin key against the real table; bad input is one line and exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shared import auth
from shared.cli import main

pytestmark = pytest.mark.integration


def test_keys_create_prints_a_working_secret_once_and_stores_only_its_hash(deployed, capsys):
    # When an admin key is created through the CLI
    assert main(["keys", "create", "--name", "ops", "--scope", "admin"]) == 0
    printed = capsys.readouterr().out.strip()
    secret = printed.rsplit(" ", 1)[-1]

    # Then it authenticates with the admin scope, and the table holds its hash, never the secret
    key = auth.authenticate(secret)
    assert key.scopes == [auth.Scope.ADMIN]
    from tests.support.dynamo import all_items

    stored = [i for i in all_items(deployed.app_table) if str(i["pk"]).startswith("APIKEY#")]
    assert stored and all(secret not in str(item) for item in stored)

    # And list then revoke work, after which the key no longer authenticates
    assert main(["keys", "list"]) == 0
    assert key.key_id in capsys.readouterr().out
    assert main(["keys", "revoke", key.key_id]) == 0
    with pytest.raises(auth.AuthError):
        auth.authenticate(secret)


def test_bad_input_is_one_line_and_exit_2():
    completed = subprocess.run(
        [sys.executable, "-m", "shared.cli", "keys", "create", "--name", "x", "--scope", "root"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "APP_TABLE": "t"},
        check=False,
    )
    assert completed.returncode == 2
    assert len(completed.stderr.strip().splitlines()) == 1 and "error:" in completed.stderr


def test_a_missing_table_setting_says_what_to_do(monkeypatch, capsys):
    monkeypatch.delenv("APP_TABLE", raising=False)
    from shared.settings import get_settings

    get_settings.cache_clear()
    assert main(["keys", "list"]) == 2
    assert "APP_TABLE is not set" in capsys.readouterr().err
