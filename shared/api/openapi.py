"""Writes the committed OpenAPI document (infra/openapi.json) from the API's pydantic models.

Usage: python -m shared.api.openapi [--check]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shared.api.app import OPENAPI_META, build_app

COMMITTED = Path(__file__).resolve().parents[2] / "infra" / "openapi.json"


def document() -> str:
    schema = json.loads(build_app().get_openapi_json_schema(**OPENAPI_META))
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    current = document()
    if "--check" in argv:
        if not COMMITTED.exists() or COMMITTED.read_text() != current:
            print(
                "error: infra/openapi.json is stale; run `python -m shared.api.openapi` and commit it", file=sys.stderr
            )
            return 1
        return 0
    COMMITTED.write_text(current)
    print(f"wrote {COMMITTED.relative_to(COMMITTED.parents[1])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
