"""The project CLI: `python -m shared.cli <command> ...`.

Each command registers itself with `add_<command>(subparsers)` and returns an exit code from its
handler, so new commands slot in without touching the others. Bad input prints one line on stderr
(`error: ...`) and exits 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from shared.auth.manage import create_api_key, list_api_keys, revoke_api_key
from shared.backfill import BackfillError, backfill_status, drain_queue, open_backfill
from shared.churn import ChurnBacktest, backtest
from shared.cli_airdrops import add_airdrops
from shared.cli_base import (
    _NO_TABLE,
    EXIT_FAILED,
    EXIT_OK,
    OneLineParser,
    _app_table_configured,
    fail_usage,
)
from shared.contacts import ContactError, import_csv
from shared.events import Standard
from shared.intel import activity_rows
from shared.settings import ChainConfig, ConfigError, TrackedContract, get_settings
from shared.tracking import (
    ChainNotTracked,
    TrackingError,
    ingested_through,
    list_contracts,
    load_chain,
    put_chain,
    track_contracts,
    tracked_chain,
    tracked_chains,
    untrack_contract,
)

# ---- backfill ----------------------------------------------------------------------------------


def add_backfill(subparsers: argparse._SubParsersAction[OneLineParser]) -> None:
    parser = subparsers.add_parser("backfill", help="ingest a historical block range through the backfill queue")
    parser.add_argument("--chain", type=int, required=True, help="chain id, as configured in KITH_CHAINS")
    parser.add_argument("--from", dest="from_block", type=int, required=True, help="first block")
    parser.add_argument("--to", dest="to_block", type=int, required=True, help="last block (inclusive)")
    parser.add_argument("--range", dest="range_size", type=int, default=2000, help="blocks per job (default 2000)")
    parser.add_argument("--job", dest="job_id", default=None, help="job id (default: random)")
    parser.add_argument(
        "--work",
        type=int,
        default=0,
        metavar="N",
        help="also drain the queue here with N threads (when no local cloud consumes it)",
    )
    parser.add_argument("--no-wait", action="store_true", help="enqueue and exit without the progress bar")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between progress polls")
    parser.set_defaults(handler=run_backfill)


def progress_line(done: int, total: int, width: int = 30, unit: str = "ranges") -> str:
    filled = width if total == 0 else width * done // total
    percent = 100 if total == 0 else 100 * done // total
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {unit} {percent:3d}%"


def run_backfill(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if args.from_block < 0:
        return fail_usage("--from must be >= 0")
    if args.from_block > args.to_block:
        return fail_usage("--from must be <= --to")
    if args.range_size < 1:
        return fail_usage("--range must be >= 1")
    if args.work < 0 or args.poll <= 0:
        return fail_usage("--work must be >= 0 and --poll > 0")
    try:
        settings = get_settings()
        chain = tracked_chain(settings, args.chain)
        status = open_backfill(settings, chain, args.from_block, args.to_block, args.range_size, args.job_id)
    except (BackfillError, ConfigError) as exc:
        return fail_usage(str(exc))
    print(
        f"backfill {status.job_id}: chain {status.chain_id} blocks {status.from_block}-{status.to_block} "
        f"in {status.total_ranges} ranges",
        file=out,
    )
    if args.no_wait:
        return EXIT_OK
    workers = [threading.Thread(target=drain_queue, args=(settings,), daemon=True) for _ in range(args.work)]
    for worker in workers:
        worker.start()
    try:
        while True:
            status = backfill_status(settings.app_table, status.job_id)
            err.write("\r" + progress_line(status.done_ranges, status.total_ranges))
            err.flush()
            if status.finished:
                err.write("\n")
                print(f"backfill {status.job_id}: done", file=out)
                return EXIT_OK
            if workers and not any(w.is_alive() for w in workers):
                err.write("\n")
                print(f"backfill {status.job_id}: workers stopped before the job finished", file=err)
                return EXIT_FAILED
            time.sleep(args.poll)
    except KeyboardInterrupt:
        err.write("\n")
        print(f"backfill {status.job_id}: still running in the background; stopped watching", file=err)
        return 130


# ---- keys --------------------------------------------------------------------------------------


def add_keys(subparsers: argparse._SubParsersAction[OneLineParser]) -> None:
    parser = subparsers.add_parser("keys", help="bootstrap and manage API keys (stored hashed)")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    create = actions.add_parser("create", help="create a key and print its secret once")
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        choices=["read", "write", "admin"],
        required=True,
        help="read, write or admin (repeatable)",
    )
    create.set_defaults(handler=run_keys_create)
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.set_defaults(handler=run_keys_list)
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=run_keys_revoke)


def run_keys_create(args: argparse.Namespace) -> int:
    if not _app_table_configured():
        return fail_usage("APP_TABLE is not set: export the App table's name (the stack output AppTableName)")
    key_id, secret = create_api_key(args.name, args.scopes)
    print(f"key {key_id} ({', '.join(args.scopes)}): {secret}")
    print("store the secret now; Kith keeps only its hash", file=sys.stderr)
    return EXIT_OK


def run_keys_list(args: argparse.Namespace) -> int:
    if not _app_table_configured():
        return fail_usage("APP_TABLE is not set: export the App table's name (the stack output AppTableName)")
    for key in list_api_keys():
        state = "revoked" if key.revoked_at else "active"
        print(f"{key.key_id}  {key.name:<24} {','.join(key.scopes):<18} ...{key.last_four}  {state}")
    return EXIT_OK


def run_keys_revoke(args: argparse.Namespace) -> int:
    if not _app_table_configured():
        return fail_usage("APP_TABLE is not set: export the App table's name (the stack output AppTableName)")
    # the operator's own tool: it may revoke the last admin key, since `keys create` can always mint another
    if revoke_api_key(args.key_id, keep_an_admin=False) is None:
        print(f"error: no API key with id {args.key_id}; `keys list` shows them", file=sys.stderr)
        return EXIT_FAILED
    print(f"revoked {args.key_id}")
    return EXIT_OK


def add_contacts(subparsers: argparse._SubParsersAction[OneLineParser]) -> None:
    parser = subparsers.add_parser("contacts", help="import contacts from CSV (any size)")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    importing = actions.add_parser("import", help="create or merge one contact per row; bad rows are listed")
    importing.add_argument("file", help="CSV with a header row: wallet(s), email, discord, telegram, x, consent, ...")
    importing.add_argument("--source", default=None, help="recorded on rows without a source column")
    importing.set_defaults(handler=run_contacts_import)


def run_contacts_import(args: argparse.Namespace) -> int:
    if not _app_table_configured():
        return fail_usage("APP_TABLE is not set: export the App table's name (the stack output AppTableName)")
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except OSError as exc:
        return fail_usage(f"cannot read {args.file}: {exc.strerror}")
    total = max(0, text.count("\n") - 1)

    def show(done: int) -> None:
        if done % 50 == 0 or done == total:
            print(f"\r{progress_line(done, max(total, done), unit='rows')}", end="", file=sys.stderr, flush=True)

    try:
        report = import_csv(text, get_settings(), default_source=args.source, row_limit=None, on_row=show)
    except ContactError as exc:
        return fail_usage(exc.message)
    print(file=sys.stderr)
    for error in report.errors:
        print(f"line {error.row}: {error.field or 'row'}: {error.message}", file=sys.stderr)
    print(
        f"{report.rows} rows: {report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{len(report.errors)} rejected"
    )
    return EXIT_FAILED if report.errors else EXIT_OK


# ---- churn --------------------------------------------------------------------------------------


def _utc_date(value: str) -> int:
    """YYYY-MM-DD -> unix second of that UTC midnight (argparse reports the ValueError as one line)."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date: use YYYY-MM-DD") from None
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def add_churn(subparsers: argparse._SubParsersAction[OneLineParser]) -> None:
    parser = subparsers.add_parser("churn", help="the churn model: backtest it on this community's history")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    test = actions.add_parser(
        "backtest", help="fit on the activity before a cut, compare the risk with what happened after it"
    )
    test.add_argument("--cut", type=_utc_date, required=True, help="UTC date of the cut, YYYY-MM-DD")
    test.add_argument(
        "--horizon-days",
        type=int,
        default=None,
        metavar="N",
        help="H: silence in the N days after the cut (default: the labels.churn_horizon_days setting)",
    )
    test.add_argument("--json", action="store_true", help="print the result as one JSON object")
    test.set_defaults(handler=run_churn_backtest)


def run_churn_backtest(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        settings = get_settings()
    except ConfigError as exc:
        return fail_usage(str(exc))
    labels = settings.labels
    horizon = labels.churn_horizon_days if args.horizon_days is None else args.horizon_days
    if horizon < 1:
        return fail_usage("--horizon-days must be >= 1")
    now = int(time.time())
    if args.cut + horizon * 86_400 > now:
        return fail_usage(f"--cut must be at least {horizon} days ago: the window after it must be over")
    if not _app_table_configured():
        return fail_usage("APP_TABLE is not set: export the App table's name (the stack output AppTableName)")
    try:
        result = backtest(
            activity_rows(settings, now),
            args.cut,
            horizon,
            recent_days=labels.dormant_days,
            at_risk_p_alive=labels.at_risk_p_alive,
        )
    except ValueError as exc:
        return fail_usage(str(exc))
    if args.json:
        print(result.model_dump_json(), file=out)
        return EXIT_OK
    print(format_backtest(result), file=out)
    return EXIT_OK


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_backtest(result: ChurnBacktest) -> str:
    """The backtest as a short report: ranking, probabilities, the flag, then the calibration table."""
    cut = datetime.fromtimestamp(result.cut, UTC).date().isoformat()
    lines = [
        f"cut {cut}, horizon {result.horizon_days:g} days, {result.n_wallets} wallets ({result.model_kind})",
        f"silent in the window: {result.silent_rate:.1%}",
        f"AUC {_number(result.auc)} (recency alone {_number(result.recency_auc)}), Brier {result.brier:.4f}",
        f"at risk: {result.flagged_share:.1%} flagged, precision {_number(result.precision)} "
        f"(flagging every recently active wallet: {_number(result.flag_base_rate)})",
        "calibration (deciles of predicted risk):",
        f"  {'risk':>13}  {'wallets':>7}  {'predicted':>9}  {'observed':>8}",
    ]
    lines += [
        f"  {b.lower:.3f}-{b.upper:.3f}  {b.n_wallets:>7}  {b.predicted:>9.3f}  {b.observed:>8.3f}"
        for b in result.calibration
    ]
    return "\n".join(lines)


# ---- chains and contracts ----------------------------------------------------------------------


def add_chains(subparsers: argparse._SubParsersAction[OneLineParser]) -> None:
    parser = subparsers.add_parser("chains", help="the tracked chains (their settings live in the App table)")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    listing = actions.add_parser("list", help="list the tracked chains and how many contracts each tracks")
    listing.set_defaults(handler=run_chains_list)
    adding = actions.add_parser("add", help="track a chain, or change a tracked chain's settings")
    adding.add_argument("--chain", type=int, required=True, help="chain id")
    adding.add_argument("--name", default="", help="a display name")
    adding.add_argument(
        "--rpc-parameter", required=True, help="the SSM SecureString parameter holding its RPC URL, e.g. /kith/rpc/main"
    )
    adding.add_argument("--confirmations", type=int, default=0, help="blocks to wait before a block is final")
    adding.add_argument("--finalized", action="store_true", help="read up to the node's `finalized` block instead")
    adding.add_argument("--max-range", type=int, default=2000, help="most blocks an eth_getLogs call may span")
    adding.add_argument(
        "--every-token",
        action="store_true",
        help="ingest every ERC-20/721/1155 Transfer on the chain, from any contract (no contract list)",
    )
    adding.add_argument(
        "--start-block",
        type=int,
        default=0,
        help="the block its first ingest run starts at (default 0); once it has run, a backfill reads older blocks",
    )
    adding.set_defaults(handler=run_chains_add)


def add_contracts(subparsers: argparse._SubParsersAction[OneLineParser]) -> None:
    parser = subparsers.add_parser("contracts", help="the contracts tracked on a chain")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    listing = actions.add_parser("list", help="list a chain's tracked contracts")
    listing.add_argument("--chain", type=int, required=True, help="chain id")
    listing.set_defaults(handler=run_contracts_list)
    adding = actions.add_parser("add", help="track a contract; its history is backfilled from --start-block")
    adding.add_argument("--chain", type=int, required=True, help="chain id")
    adding.add_argument("--address", required=True, help="the contract's 0x address")
    adding.add_argument("--standard", required=True, choices=[str(s) for s in Standard])
    adding.add_argument("--underlying", default=None, help="vaults and staking contracts: the token they hold")
    adding.add_argument(
        "--fee-recipient",
        action="append",
        default=[],
        help="seaport: a marketplace fee address (repeatable); other payees but the seller are royalties",
    )
    adding.add_argument("--start-block", type=int, default=0, help="its deployment block (default 0)")
    adding.add_argument("--label", default="", help="a name for it")
    adding.set_defaults(handler=run_contracts_add)
    removing = actions.add_parser("remove", help="stop tracking a contract (its stored events stay)")
    removing.add_argument("--chain", type=int, required=True, help="chain id")
    removing.add_argument("--address", required=True, help="the contract's 0x address")
    removing.set_defaults(handler=run_contracts_remove)


def run_chains_list(args: argparse.Namespace) -> int:
    if not _app_table_configured():
        return fail_usage(_NO_TABLE)
    for chain in tracked_chains(get_settings()):
        where = chain.rpc_url_parameter or "(rpc_url given directly)"
        reads = "every token" if chain.every_token else f"{len(chain.contracts):>5} contracts"
        print(f"{chain.chain_id:>10}  {chain.name:<16} {reads:<15} from block {chain.start_block:<10} rpc: {where}")
    return EXIT_OK


def _chain_flag(field: str) -> str:
    """The `chains add` flag that sets a chain setting, for errors that name what to fix."""
    renamed = {"chain_id": "--chain", "rpc_url_parameter": "--rpc-parameter", "": "chain"}
    return renamed.get(field, "--" + field.replace("_", "-"))


def run_chains_add(args: argparse.Namespace) -> int:
    if not _app_table_configured():
        return fail_usage(_NO_TABLE)

    settings = get_settings()
    try:
        chain = ChainConfig(
            chain_id=args.chain,
            name=args.name,
            rpc_url_parameter=args.rpc_parameter,
            confirmations=args.confirmations,
            use_finalized_tag=args.finalized,
            max_range=args.max_range,
            every_token=args.every_token,
            start_block=args.start_block,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        return fail_usage(f"{_chain_flag(field)}: {first['msg']}")
    known = load_chain(settings.app_table, args.chain)
    try:
        put_chain(settings.app_table, chain)
    except TrackingError as exc:
        return fail_usage(f"{_chain_flag(exc.field or '')}: {exc}")
    next_step = "it reads every token" if chain.every_token else "add contracts with `contracts add`"
    print(f"chain {args.chain} {'updated' if known else 'tracked'}; {next_step}")
    ingested = ingested_through(settings.app_table, args.chain) if known is not None else None
    if ingested is not None and known is not None and known.start_block != chain.start_block:
        print(
            f"its cursor stays at block {ingested}: --start-block places a chain's first cursor only; "
            "read older blocks with `backfill`"
        )
    return EXIT_OK


def run_contracts_list(args: argparse.Namespace) -> int:
    if not _app_table_configured():
        return fail_usage(_NO_TABLE)
    try:
        items = list_contracts(get_settings(), args.chain)
    except ChainNotTracked as exc:
        return fail_usage(str(exc))
    for item in items:
        start, label = item.get("start_block", 0), item.get("label", "")
        print(f"{item['address']}  {item['standard']:<12} from block {start:<10} {label}")
    return EXIT_OK


def run_contracts_add(args: argparse.Namespace) -> int:
    if not _app_table_configured():
        return fail_usage(_NO_TABLE)

    try:
        contract = TrackedContract(
            address=args.address,
            standard=args.standard,
            start_block=args.start_block,
            label=args.label,
            underlying=args.underlying,
            fee_recipients=args.fee_recipient,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        option = {"fee_recipients": "--fee-recipient"}.get(str(error["loc"][0]), f"--{error['loc'][0]}")
        return fail_usage(f"{option}: {error['msg']}")
    if args.start_block < 0:
        return fail_usage("--start-block must be >= 0")
    try:
        outcome = track_contracts(get_settings(), args.chain, [contract])
    except (ChainNotTracked, TrackingError) as exc:
        return fail_usage(str(exc))
    if not outcome.added:
        print(f"{contract.address} was already tracked on chain {args.chain}")
        return EXIT_OK
    print(f"tracking {contract.address} ({contract.standard}) on chain {args.chain}")
    if outcome.backfill_job:
        print(f"backfill {outcome.backfill_job} reads its history from block {contract.start_block}")
    else:
        print(outcome.note)
    return EXIT_OK


def run_contracts_remove(args: argparse.Namespace) -> int:
    if not _app_table_configured():
        return fail_usage(_NO_TABLE)
    if untrack_contract(get_settings(), args.chain, args.address.lower()) is None:
        print(f"error: {args.address.lower()} is not tracked on chain {args.chain}", file=sys.stderr)
        return EXIT_FAILED
    print(f"stopped tracking {args.address.lower()} on chain {args.chain}; its stored events stay")
    return EXIT_OK


# ---- entry point -------------------------------------------------------------------------------

COMMANDS: list[Callable[[argparse._SubParsersAction[OneLineParser]], None]] = [
    add_backfill,
    add_keys,
    add_contacts,
    add_churn,
    add_chains,
    add_contracts,
    add_airdrops,
]


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m shared.cli", description="Kith command line")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
