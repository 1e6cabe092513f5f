"""python -m infra.simulator --rpc URL [--rpc URL2] --wallets 2000 --days 180 --seed 7 --out .state/deployment.json"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.simulator.run import Progress, simulate, validate_size


def _progress(update: Progress) -> None:
    # One line rewritten in place: \r plus padding so a shorter line fully covers a longer one.
    sys.stderr.write("\r" + update.ljust(72))
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.simulator", description=__doc__)
    parser.add_argument("--rpc", action="append", help="anvil RPC URL; repeat for more chains (default :8545)")
    parser.add_argument("--wallets", type=int, default=2000, help="community size, 50 to 50000")
    parser.add_argument("--days", type=int, default=180, help="days of history, 7 to 720")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(".state/deployment.json"))
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    args = parser.parse_args(argv)
    try:
        validate_size(args.wallets, args.days)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    rpc_urls = args.rpc or ["http://127.0.0.1:8545"]
    deployment = simulate(rpc_urls, args.wallets, args.days, args.seed, args.out, None if args.quiet else _progress)
    if not args.quiet:
        sys.stderr.write("\n")
    s = deployment.summary
    print(
        f"simulated {s.wallets} wallets over {s.days} days on {len(deployment.chains)} chain(s): "
        f"{s.transactions:,} transactions, {s.events_total:,} events in {s.elapsed_seconds:.1f}s -> {args.out}"
    )
    for kind, count in s.events_by_kind.items():
        print(f"  {kind:<26}{count:>8,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
