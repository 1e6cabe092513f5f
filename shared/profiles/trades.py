"""What a wallet's NFT trades add up to: realised profit, holding times, flips. Pure functions over the
profile's `nft_trades` (docs/architecture.md, "NFT markets")."""

from __future__ import annotations

from bisect import bisect_right

from shared.events import ZERO_ADDRESS
from shared.profiles.model import DAY, WalletProfile
from shared.profiles.trade_fold import NftTrade


def realised_profit(profile: WalletProfile) -> dict[str, int]:
    """Profit per currency over the NFTs the wallet bought and sold in that one currency: the proceeds
    of the units sold minus what those units cost (at the token's average cost). Minted NFTs have no
    known cost and NFTs bought in one currency and sold in another have no profit in either: both are
    left out, rather than guessed."""
    profit: dict[str, int] = {}
    for trade in profile.nft_trades.values():
        if not (
            trade.bought > 0 and trade.sold > 0 and len(trade.cost) == 1 and trade.cost.keys() == trade.proceeds.keys()
        ):
            continue
        (currency, cost), proceeds = next(iter(trade.cost.items())), next(iter(trade.proceeds.values()))
        matched = min(trade.bought, trade.sold)
        profit[currency] = profit.get(currency, 0) + proceeds * matched // trade.sold - cost * matched // trade.bought
    return profit


def native_profit(profile: WalletProfile) -> float:
    """Realised profit in the chains' native coins (the zero address as currency), in whole coins."""
    return realised_profit(profile).get(ZERO_ADDRESS, 0) / 10**18


def holding_times(trade: NftTrade) -> list[int]:
    """Seconds each unit sold was held: from the latest acquisition (a purchase or a mint) at or before
    its sale. A sale of a unit acquired otherwise (a plain transfer) has none."""
    acquired = sorted(int(t) for t, units in trade.acquired.items() if units > 0)
    held: list[int] = []
    for sold_at, units in sorted((int(t), u) for t, u in trade.disposed.items()):
        position = bisect_right(acquired, sold_at)
        if position:
            held.extend([sold_at - acquired[position - 1]] * max(units, 0))
    return held


def flips(profile: WalletProfile, flipper_days: int, collection: str | None = None) -> int:
    """Units sold within `flipper_days` of being acquired (of one collection, `<chain>:<address>`, if given)."""
    window = flipper_days * DAY
    return sum(
        1
        for key, trade in profile.nft_trades.items()
        if collection is None or key.rsplit(":", 1)[0] == collection
        for held in holding_times(trade)
        if held < window
    )


def flipped_collections(profile: WalletProfile, flipper_days: int) -> set[str]:
    """The collections (`<chain>:<address>`) of which the wallet flipped at least one NFT."""
    return {key.rsplit(":", 1)[0] for key in profile.nft_trades if flips(profile, flipper_days, key.rsplit(":", 1)[0])}
