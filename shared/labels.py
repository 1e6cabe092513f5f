"""Labels and churn states read off a profile. Pure functions; thresholds come from LabelSettings."""

from __future__ import annotations

from shared.events import Standard
from shared.profiles.model import DAY, Holding, WalletProfile
from shared.profiles.trades import flips
from shared.settings import LabelSettings


def labels_for(profile: WalletProfile, holdings: list[Holding], now: int, settings: LabelSettings) -> list[str]:
    found: list[str] = []
    if profile.votes > 0:
        found.append("voter")
    nfts = sum(h.balance for h in holdings if h.standard in (Standard.ERC721, Standard.ERC1155) and h.balance > 0)
    if nfts >= settings.collector_min_nfts:
        found.append("collector")
    if profile.first_seen is not None and now - profile.first_seen <= settings.new_holder_days * DAY:
        found.append("new_holder")
    if any(_is_diamond_hands(h, now, settings) for h in holdings):
        found.append("diamond_hands")
    if any(p.staked_assets >= settings.staker_min_balance for p in profile.staked_positions()):
        found.append("staker")
    if profile.nft_sold and flips(profile, settings.flipper_days):
        found.append("flipper")
    return found


def _is_diamond_hands(holding: Holding, now: int, settings: LabelSettings) -> bool:
    if holding.standard != Standard.ERC20 or holding.balance <= 0 or holding.holding_since is None:
        return False
    never_sold_since = holding.last_out_time is None or holding.last_out_time < holding.holding_since
    return never_sold_since and now - holding.holding_since >= settings.diamond_hands_days * DAY


def churn_state(profile: WalletProfile, holdings: list[Holding], now: int, settings: LabelSettings) -> str:
    """exited: every fungible-token balance the wallet held went to zero (NFT keepsakes do not count as
    staying); dormant: no activity for N days."""
    token_holdings = [h for h in holdings if h.standard == Standard.ERC20 and h.in_count > 0]
    if token_holdings and all(h.balance <= 0 and h.exited_at is not None for h in token_holdings):
        return "exited"
    if profile.last_active is not None and now - profile.last_active >= settings.dormant_days * DAY:
        return "dormant"
    return "active"
