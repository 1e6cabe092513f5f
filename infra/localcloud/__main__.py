"""`python -m infra.localcloud run [--wallets N] [--days D] [--seed S] [--port 8080]` (what `make run` calls)."""

from __future__ import annotations

import sys

from infra.localcloud.main import main

if __name__ == "__main__":
    sys.exit(main())
