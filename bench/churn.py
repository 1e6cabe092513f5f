"""Churn benchmark: how early the at-risk flag catches the simulator's dormant personas, and how often it
cries wolf on its steady holders, for the churn risk and for the old P(alive) < 0.5 rule.

  lead_days_p50_risk        median days by which a dormant persona is flagged at risk before it turns
                            dormant (no activity for dormant_days); 0 when it was not flagged before
  lead_days_p50_p_alive     the same for P(alive) < 0.5
  lead_days_p50_flagged_*   the same median among the dormant personas flagged before turning dormant
  flagged_dormant_risk      share of the dormant personas flagged before they turned dormant
  false_alarm_risk          share of the steady holders' daily evaluations (while not dormant) flagged
  false_alarm_p_alive       the same for P(alive) < 0.5
  steady_ever_flagged_risk  share of steady holders flagged at least once
Context keys: wallets, days, refits, horizon_days, backtest_* (the backtest of the last horizon, as
the nightly refit runs it), elapsed_s.

The community is infra.simulator's plan (the same seed, personas and days `make run` plays), played in
Python without any chain: every wallet's active days are what the plan touches. The model is refitted
every `--refit-every` days (nightly in production: every day is slower and changes little) on the
activity so far, and every wallet is evaluated every day at midnight; the flag turns on at the due
date the previous evaluation computed. Human lines first, then one JSON object as the last line.
Timings are reported, never asserted.

    .venv/bin/python bench/churn.py [--wallets 2000] [--days 180] [--seed 7] [--refit-every 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.simulator.community import Community
from shared import churn
from shared.settings import Settings

DAY = churn.DAY
ROLES = ("treasury", "token", "collection", "governor", "items", "oracle", "pool", "usdc", "weth")


def planned_activity(wallets: int, days: int, seed: int, day_zero: int) -> tuple[Community, dict[str, set[int]]]:
    """Every wallet's active UTC days in the simulator's plan for two chains (as `make run` deploys)."""
    community = Community(wallets, days, seed)
    active: dict[str, set[int]] = {}

    def touch(wallet: str, timestamp: int) -> None:
        community.first_seen.setdefault(wallet, timestamp)
        community.last_activity[wallet] = timestamp
        active.setdefault(wallet, set()).add(timestamp // DAY)

    community.touch = touch  # type: ignore[method-assign]
    for number, chain_id in enumerate((31337, 31338)):
        contracts = {role: f"0x{number + 1:02x}{index + 1:038x}" for index, role in enumerate(ROLES)}
        community.add_chain(chain_id, contracts)
    for day in range(days):
        community.plan_day(day, day_zero + day * DAY)
    return community, active


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wallets", type=int, default=2000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--refit-every", type=int, default=7)
    parser.add_argument("--horizon-days", type=int, default=30)
    args = parser.parse_args(argv)
    started = time.monotonic()
    settings = Settings()
    dormant_after = settings.labels.dormant_days * DAY
    day_zero = 1_767_225_600  # 2026-01-01, a UTC midnight
    community, active = planned_activity(args.wallets, args.days, args.seed, day_zero)
    personas = community.personas()
    print(f"planned {len(active)} wallets over {args.days} days in {time.monotonic() - started:.1f}s", file=sys.stderr)

    first_seen = {w: community.first_seen[w] for w in active}
    model: churn.ChurnModel | None = None
    refits = 0
    # per wallet: (due the last evaluation computed, time of that evaluation) and when the flag first went on
    pending: dict[str, tuple[int | None, int]] = {}
    flagged_risk: dict[str, int] = {}
    flagged_p_alive: dict[str, int] = {}
    steady = set(personas["steady"])
    steady_evaluations = steady_flags_risk = steady_flags_p_alive = 0
    steady_ever: set[str] = set()
    for day in range(1, args.days + 1):
        now = day_zero + day * DAY
        present = [w for w in active if first_seen[w] < now]
        rows = [(first_seen[w], sorted(d for d in active[w] if d < now // DAY), now) for w in present]
        if model is None or day % args.refit_every == 0:
            model = churn.fit_churn(
                rows, horizon_days=args.horizon_days, recent_days=settings.labels.dormant_days, fitted_at=now
            )
            refits += 1
        for wallet, (first, days_so_far, _) in zip(present, rows, strict=True):
            last = max(days_so_far) * DAY if days_so_far else first
            dormant = now - last >= dormant_after
            risk = churn.wallet_risk(model, first, days_so_far, now)
            p_alive = churn.wallet_churn(model, first, days_so_far, now)[0]
            if dormant:
                pending.pop(wallet, None)
                continue
            at_risk = bool(risk.at_risk) if risk.at_risk is not None else p_alive < 0.5
            if at_risk and wallet not in flagged_risk:
                due, evaluated = pending.get(wallet, (None, now))
                flagged_risk[wallet] = min(max(due, evaluated), now) if due is not None else now
            if not at_risk:
                flagged_risk.pop(wallet, None)
                pending[wallet] = (risk.due, now)
            if p_alive < 0.5:
                flagged_p_alive.setdefault(wallet, now)
            else:
                flagged_p_alive.pop(wallet, None)
            if wallet in steady:
                steady_evaluations += 1
                steady_flags_risk += at_risk
                steady_flags_p_alive += p_alive < 0.5
                if at_risk:
                    steady_ever.add(wallet)

    def lead(flags: dict[str, int]) -> tuple[float, float, float]:
        leads, early = [], []
        for w in personas["dormant"]:
            dormant_at = max(active[w]) * DAY + dormant_after
            if dormant_at > day_zero + args.days * DAY:
                continue
            at = flags.get(w)
            if at is not None and at <= dormant_at:
                early.append((dormant_at - at) / DAY)
            leads.append(early[-1] if at is not None and at <= dormant_at else 0.0)
        nan = float("nan")
        return (
            statistics.median(leads) if leads else nan,
            statistics.median(early) if early else nan,
            len(early) / len(leads) if leads else nan,
        )

    lead_risk, early_risk, caught_risk = lead(flagged_risk)
    lead_p_alive, early_p_alive, caught_p_alive = lead(flagged_p_alive)
    assert model is not None
    end = day_zero + args.days * DAY
    final = [(first_seen[w], sorted(active[w]), end) for w in active]
    check = churn.backtest(
        final, end - args.horizon_days * DAY, args.horizon_days, recent_days=settings.labels.dormant_days
    )
    result = {
        "bench": "churn",
        "wallets": len(active),
        "days": args.days,
        "refits": refits,
        "horizon_days": args.horizon_days,
        "lead_days_p50_risk": round(lead_risk, 2),
        "lead_days_p50_p_alive": round(lead_p_alive, 2),
        "lead_days_p50_flagged_risk": round(early_risk, 2),
        "lead_days_p50_flagged_p_alive": round(early_p_alive, 2),
        "flagged_dormant_risk": round(caught_risk, 4),
        "flagged_dormant_p_alive": round(caught_p_alive, 4),
        "false_alarm_risk": round(steady_flags_risk / max(1, steady_evaluations), 4),
        "false_alarm_p_alive": round(steady_flags_p_alive / max(1, steady_evaluations), 4),
        "steady_ever_flagged_risk": round(len(steady_ever) / max(1, len(steady)), 4),
        "backtest_auc": round(check.auc, 4) if check.auc is not None else None,
        "backtest_recency_auc": round(check.recency_auc, 4) if check.recency_auc is not None else None,
        "backtest_precision": round(check.precision, 4) if check.precision is not None else None,
        "backtest_silent_rate": round(check.silent_rate, 4),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
