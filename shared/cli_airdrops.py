"""`python -m shared.cli airdrops`: snapshot a segment for a verifiable airdrop (docs/architecture.md, Airdrops)."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from shared.airdrops.model import parse_amount_rule
from shared.airdrops.snapshot import BlockNotFinal, NothingToDrop, take_snapshot
from shared.cli_base import _NO_TABLE, EXIT_FAILED, EXIT_OK, OneLineParser, _app_table_configured, fail_usage
from shared.segments.store import SegmentNotFound
from shared.settings import get_settings
from shared.tracking import ChainNotTracked


def add_airdrops(subparsers: argparse._SubParsersAction[OneLineParser]) -> None:
    parser = subparsers.add_parser("airdrops", help="airdrop snapshots of segments (docs/architecture.md, Airdrops)")
    snap = parser.add_subparsers(dest="action", required=True, parser_class=OneLineParser).add_parser(
        "snapshot", help="snapshot a segment's members and amounts at a final block; prints its Merkle root"
    )
    snap.add_argument("--segment", required=True, help="segment id")
    snap.add_argument("--chain", type=int, required=True, help="chain id")
    snap.add_argument("--block", type=int, required=True, help="the block amounts are read at (must be final)")
    amount = snap.add_mutually_exclusive_group(required=True)
    amount.add_argument("--fixed", help="the same raw amount for every member")
    amount.add_argument("--balance-of", help="each member's balance of this ERC-20 at the block")
    snap.set_defaults(handler=run_airdrops_snapshot)


def run_airdrops_snapshot(args: argparse.Namespace) -> int:
    if not _app_table_configured():
        return fail_usage(_NO_TABLE)
    raw = {"kind": "fixed", "amount": args.fixed} if args.fixed else {"kind": "balance", "token": args.balance_of}
    try:
        rule = parse_amount_rule(raw)
        taken = take_snapshot(args.segment, args.chain, args.block, rule, get_settings())
    except ValidationError as exc:
        return fail_usage(f"amount rule: {exc.errors()[0]['msg']}")
    except (SegmentNotFound, ChainNotTracked, BlockNotFinal, NothingToDrop) as exc:
        print(f"error: {exc or 'no such segment'}", file=sys.stderr)
        return EXIT_FAILED
    print(f"snapshot {taken.snapshot_id}: {taken.recipients} recipients, total {taken.total} at block {taken.block}")
    print(f"merkle root {taken.merkle_root}  rule {taken.rule_hash}")
    return EXIT_OK
