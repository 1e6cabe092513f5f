"""The wallet facts a message template may use (docs/architecture.md, "Campaigns").

The same read-time values the wallet view shows, read through intel's overview rather than the API's
read model.
"""

from __future__ import annotations

import time
from typing import Any

from shared.intel import load_wallet, overview
from shared.settings import Settings


def wallet_facts(address: str, settings: Settings, now: int | None = None) -> dict[str, Any] | None:
    """The wallet's profile, labels, churn verdict, segments and tags, or None for an unknown wallet."""
    now = now or int(time.time())
    inputs = load_wallet(address.lower(), settings)
    if inputs is None:
        return None
    return overview(inputs, now, settings).model_dump()
