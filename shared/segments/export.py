"""Segment members as CSV, one page per call, for airdrops, allowlists and spreadsheets."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from shared import scoring
from shared.csvsafe import cell
from shared.intel import WalletState
from shared.intel.codecs import WALLET_STATE_CODEC
from shared.profiles.items import PROFILE_CODEC
from shared.profiles.model import WalletProfile
from shared.segments.store import members_page
from shared.settings import Settings
from shared.store import dynamo, keys

COLUMNS = ["address", "entered_at", "segment_version", "score", "churn_state", "labels"]


def members_csv(
    segment_id: str, limit: int, after: dict[str, Any] | None, settings: Settings
) -> tuple[str, dict[str, Any] | None]:
    """One Query for the page of members, then batched reads (100 keys a request) for their profiles."""
    members, next_key = members_page(segment_id, limit, after, settings)
    addresses = [m["address"] for m in members]
    wanted = [dynamo.to_item(keys.profile_key(a)) for a in addresses]
    wanted += [dynamo.to_item(keys.wallet_state_key(a)) for a in addresses]
    profiles: dict[str, WalletProfile] = {}
    states: dict[str, WalletState] = {}
    for item in dynamo.batch_get(settings.app_table, wanted, consistent=False):
        plain = dynamo.from_item(item)
        address = keys.wallet_of(plain["pk"])
        if keys.wallet_item_kind(plain["sk"]) == "profile":
            profiles[address] = PROFILE_CODEC.decode(item)
        else:
            states[address] = WALLET_STATE_CODEC.decode(item)
    now = int(time.time())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for member in members:
        address = member["address"]
        profile, state = profiles.get(address), states.get(address)
        score = round(scoring.score_at(profile.score, now, settings.score), 6) if profile else ""
        row = [
            address,
            member["entered_at"],
            member["version"],
            score,
            state.churn_state if state else "",
            ";".join(state.labels) if state else "",
        ]
        writer.writerow([cell(value) for value in row])  # spreadsheets run cells starting with = + - @
    return out.getvalue(), next_key
