"""Loyalty tiers on the wallet state, and the tier.changed event on the bus (docs/architecture.md, "Events")."""

from __future__ import annotations

from shared import loyalty
from shared.intel.models import WalletState
from shared.settings import Settings
from shared.store.bus import BusEvent, publish

# ---- loyalty tiers ---------------------------------------------------------------------

TIER_CHANGED = "tier.changed"
# segment and tier events share one source, so triggered campaigns match them alike
EVENT_SOURCE = "kith.segments"


def apply_loyalty(
    state: WalletState, previous: WalletState | None, result: loyalty.Loyalty | None, settings: Settings
) -> tuple[str, str] | None:
    """Stamp the tier on the state; (old, new) when it moved. A wallet with no tier yet counts as the
    lowest tier, so a new wallet entering the entry tier is no event."""
    if result is None:
        return None
    state.tier, state.loyalty_points, state.loyalty_version = result.tier, result.points, result.version
    before = previous.tier if previous is not None and previous.tier else settings.loyalty.tiers[0].name
    return (before, result.tier) if before != result.tier else None


def publish_tier_change(address: str, before: str, after: str, state: WalletState, at: int, settings: Settings) -> None:
    """A tier change on the bus, like segment.entered/exited (same source), for triggered campaigns."""
    if not settings.event_bus_name:
        return
    detail = {
        "address": address,
        "from_tier": before,
        "to_tier": after,
        "points": state.loyalty_points,
        "formula_version": state.loyalty_version,
        "at": at,
    }
    publish(settings.event_bus_name, [BusEvent(EVENT_SOURCE, TIER_CHANGED, detail)], what=TIER_CHANGED)
