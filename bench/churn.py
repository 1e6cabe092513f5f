"""Churn benchmark: how early the at-risk flag catches the simulator's dormant personas, and how often it
cries wolf on its steady holders, for the churn risk and for the old P(alive) < 0.5 rule.

  armed_from_day                 first day the refit armed the risk flag (a backtest over a full horizon);
                                 before it, P(alive) < at_risk_p_alive decides, as in the product
  flagged_dormant_risk           share of the dormant personas flagged before they turned dormant (no
                                 activity for dormant_days)
  flagged_dormant_risk_armed     the same among those whose last activity came after the flag was armed
  lead_days_p50_flagged_risk     median days by which those flagged were flagged before turning dormant
  lead_days_p50_risk             the same over every dormant persona, 0 when not flagged before
  false_alarm_risk               share of the steady holders' daily evaluations (while not dormant) flagged
  false_alarm_risk_armed         the same while the risk flag was armed
  steady_ever_flagged_risk       share of steady holders flagged at least once
  *_p_alive                      the same for P(alive) < 0.5 throughout
Context keys: wallets, days, refits, horizon_days, backtest_* (the backtest of the last horizon, as
the nightly refit runs it), elapsed_s.

The community is infra.simulator's plan (the same seed, personas and days `make run` plays), played in
Python without any chain: every wallet's active days are what the plan touches. The model is refitted
every `--refit-every` days (nightly in production: every day is slower and changes little) on the
activity so far, and every wallet is evaluated every day at midnight; the flag turns on at the due
date the previous evaluation computed. H, dormant_days and at_risk_p_alive are the settings' (KITH_LABELS).
Human lines first, then one JSON object as the last line. Timings are reported, never asserted.

    .venv/bin/python bench/churn.py [--wallets 2000] [--days 180] [--seed 7] [--refit-every 7] [--horizon-days N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.simulator.activity import planned_activity
from shared import churn
from shared.settings import settings_from_env

DAY = churn.DAY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wallets", type=int, default=2000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--refit-every", type=int, default=7)
    parser.add_argument("--horizon-days", type=int, default=None, help="H (default: labels.churn_horizon_days)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    labels = settings_from_env().labels
    horizon = labels.churn_horizon_days if args.horizon_days is None else args.horizon_days
    dormant_after = labels.dormant_days * DAY
    day_zero = 1_767_225_600  # 2026-01-01, a UTC midnight
    community, active = planned_activity(args.wallets, args.days, args.seed, day_zero)
    personas = community.personas()
    print(f"planned {len(active)} wallets over {args.days} days in {time.monotonic() - started:.1f}s", file=sys.stderr)

    first_seen = {w: community.first_seen[w] for w in active}
    model: churn.ChurnModel | None = None
    refits = 0
    armed_day: int | None = None
    # per wallet: (due the last evaluation computed, time of that evaluation) and when the flag first went on
    pending: dict[str, tuple[int | None, int]] = {}
    flagged_risk: dict[str, int] = {}
    flagged_p_alive: dict[str, int] = {}
    steady = set(personas["steady"])
    steady_evaluations = steady_flags_risk = steady_flags_p_alive = 0
    armed_evaluations = armed_flags = 0
    steady_ever: set[str] = set()
    for day in range(1, args.days + 1):
        now = day_zero + day * DAY
        present = [w for w in active if first_seen[w] < now]
        rows = [(first_seen[w], sorted(d for d in active[w] if d < now // DAY), now) for w in present]
        if model is None or day % args.refit_every == 0:
            model = churn.fit_churn(rows, horizon_days=horizon, recent_days=labels.dormant_days, fitted_at=now)
            refits += 1
            if armed_day is None and model.risk_threshold is not None:
                armed_day = day
        for wallet, (first, days_so_far, _) in zip(present, rows, strict=True):
            last = max(days_so_far) * DAY if days_so_far else first
            dormant = now - last >= dormant_after
            risk = churn.wallet_risk(model, first, days_so_far, now)
            p_alive = churn.wallet_churn(model, first, days_so_far, now)[0]
            if dormant:
                pending.pop(wallet, None)
                continue
            at_risk = bool(risk.at_risk) if risk.at_risk is not None else p_alive < labels.at_risk_p_alive
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
                if risk.at_risk is not None:
                    armed_evaluations += 1
                    armed_flags += at_risk
                if at_risk:
                    steady_ever.add(wallet)

    armed_at = day_zero + armed_day * DAY if armed_day is not None else None

    def lead(flags: dict[str, int]) -> tuple[float, float, float, float]:
        leads, early, once_armed = [], [], []
        for w in personas["dormant"]:
            dormant_at = max(active[w]) * DAY + dormant_after
            if dormant_at > day_zero + args.days * DAY:
                continue
            at = flags.get(w)
            caught = at is not None and at <= dormant_at
            if at is not None and caught:
                early.append((dormant_at - at) / DAY)
            leads.append(early[-1] if caught else 0.0)
            if armed_at is not None and max(active[w]) * DAY >= armed_at:
                once_armed.append(caught)
        nan = float("nan")
        return (
            statistics.median(leads) if leads else nan,
            statistics.median(early) if early else nan,
            len(early) / len(leads) if leads else nan,
            sum(once_armed) / len(once_armed) if once_armed else nan,
        )

    lead_risk, early_risk, caught_risk, caught_armed = lead(flagged_risk)
    lead_p_alive, early_p_alive, caught_p_alive, _ = lead(flagged_p_alive)
    assert model is not None
    end = day_zero + args.days * DAY
    final = [(first_seen[w], sorted(active[w]), end) for w in active]
    check = churn.backtest(
        final,
        end - horizon * DAY,
        horizon,
        recent_days=labels.dormant_days,
        at_risk_p_alive=labels.at_risk_p_alive,
    )

    def rounded(value: float | None) -> float | None:
        return None if value is None or value != value else round(value, 4)

    result = {
        "bench": "churn",
        "wallets": len(active),
        "days": args.days,
        "refits": refits,
        "horizon_days": horizon,
        "armed_from_day": armed_day,
        "flagged_dormant_risk": rounded(caught_risk),
        "flagged_dormant_risk_armed": rounded(caught_armed),
        "flagged_dormant_p_alive": rounded(caught_p_alive),
        "lead_days_p50_flagged_risk": rounded(early_risk),
        "lead_days_p50_flagged_p_alive": rounded(early_p_alive),
        "lead_days_p50_risk": rounded(lead_risk),
        "lead_days_p50_p_alive": rounded(lead_p_alive),
        "false_alarm_risk": round(steady_flags_risk / max(1, steady_evaluations), 4),
        "false_alarm_risk_armed": round(armed_flags / max(1, armed_evaluations), 4),
        "false_alarm_p_alive": round(steady_flags_p_alive / max(1, steady_evaluations), 4),
        "steady_ever_flagged_risk": round(len(steady_ever) / max(1, len(steady)), 4),
        "backtest_auc": rounded(check.auc),
        "backtest_recency_auc": rounded(check.recency_auc),
        "backtest_precision": rounded(check.precision),
        "backtest_flag_base_rate": rounded(check.flag_base_rate),
        "backtest_silent_rate": round(check.silent_rate, 4),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(
        f"dormant personas flagged before turning dormant: {caught_risk:.1%} ({caught_armed:.1%} of those that went "
        f"quiet once the flag was armed on day {armed_day}), median lead {early_risk:.1f} days; steady holders' "
        f"evaluations flagged: {result['false_alarm_risk']:.2%} ({result['false_alarm_risk_armed']:.2%} while armed)",
        file=sys.stderr,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
