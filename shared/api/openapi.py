"""The committed OpenAPI document, infra/openapi.json: written from the full application (shared.api.docs builds it).

Usage: python -m shared.api.openapi [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

from shared.api.app import build_app
from shared.api.docs import openapi_json, openapi_schema, swagger_html, with_error_responses

__all__ = ["COMMITTED", "document", "main", "openapi_json", "openapi_schema", "swagger_html", "with_error_responses"]

COMMITTED = Path(__file__).resolve().parents[2] / "infra" / "openapi.json"


def document() -> str:
    return openapi_json(build_app())


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
