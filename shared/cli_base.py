"""What every command of the command line shares: exit codes, one-line errors, the App table check."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from shared.settings import ConfigError, get_settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; operators and scripts want just the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message}\n")


def fail_usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


_NO_TABLE = "APP_TABLE is not set: export the App table's name (the stack output AppTableName)"


def _app_table_configured() -> bool:
    try:
        return bool(get_settings().app_table)
    except ConfigError:
        return False
