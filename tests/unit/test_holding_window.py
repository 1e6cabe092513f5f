"""Out-of-order arrivals: the windowed replay equals a full replay, or says it cannot know."""

from __future__ import annotations

import itertools

from shared.events import Standard
from shared.profiles.model import Activity, Holding, replay_holding_times, replay_holding_window

TOKEN = "0x" + "11" * 20


def _a(block: int, direction: str, amount: int) -> Activity:
    return Activity(
        event_id=f"e{block}",
        chain_id=1,
        block_number=block,
        log_index=0,
        sub_index=0,
        block_time=block * 100,
        tx_hash="0x",
        contract=TOKEN,
        standard=Standard.ERC20,
        direction=direction,
        amount=amount,  # type: ignore[arg-type]
    )


def _holding(activities: list[Activity]) -> Holding:
    holding = Holding(chain_id=1, contract=TOKEN, standard=Standard.ERC20)
    holding.balance = sum(a.amount if a.direction == "in" else -a.amount for a in activities)
    replay_holding_times(holding, activities)
    return holding


def test_windowed_replay_agrees_with_a_full_replay_whenever_it_answers():
    history = [_a(1, "in", 10), _a(2, "out", 4), _a(3, "out", 6), _a(4, "in", 5), _a(5, "in", 1), _a(6, "out", 6)]
    answered = 0
    for late in range(len(history)):
        for prefix in itertools.combinations(range(len(history)), late):
            if late in prefix:
                continue
            # Given the stored holding saw every activity but `late`, which arrives now
            seen = [history[i] for i in prefix if history[i].block_number > 0]
            if any(a.block_number > history[late].block_number for a in seen) is False:
                continue  # in order: the incremental step handles it
            stored = _holding(seen)
            arrived = history[late]
            holding = stored.model_copy(deep=True)
            holding.balance += arrived.amount if arrived.direction == "in" else -arrived.amount
            window = [a for a in [*seen, arrived] if a.block_time >= arrived.block_time]
            # When the window replay answers, it equals the full replay
            if replay_holding_window(holding, stored, window, arrived.block_time):
                answered += 1
                full = _holding([*seen, arrived])
                assert (holding.holding_since, holding.exited_at) == (full.holding_since, full.exited_at)
    assert answered > 10
