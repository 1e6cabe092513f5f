"""Ingestion benchmark: Kith's fetch-and-decode and end-to-end throughput beside cryo and ethereum-etl.

One anvil chain holding >= 100,000 real token transfers (ERC-20, ERC-721, ERC-1155, emitted by loop
contracts in JSON-RPC batches with automine off), then:
  ours_tps        eth_getLogs + headers + decode into typed events (no writes), as backfill workers
                  run it: range jobs of JOB_BLOCKS blocks (~10,000 logs, a common provider cap)
                  on WORKERS threads, each with its own ChainReader
  ours_e2e_tps    the scheduled ingest path into moto (a separate moto_server process)
  metadata_requests_per_contract
                  HTTP requests the token-metadata reader sends for --metadata-contracts new tokens
                  (name, symbol, decimals of each), counted at its session; the goal is <= 0.01
  cryo_tps        cryo 0.3.2 freeze of erc20_transfers + erc721_transfers (own virtualenv)
  etl_tps         ethereum-etl 2.4.2 export_token_transfers (own virtualenv)
Ours, cryo and ethereum-etl run in alternation, --rounds times each against the same anvil, and
each reports its best round (the machine may be shared). Everything the bench makes (virtualenvs,
the chain, peer outputs) lives under .state/bench/; per-run folders are removed at the end.
Human lines first, then one JSON object as the last line. Timings are reported, never asserted.

    .venv/bin/python bench/ingest.py [--transfers 100000] [--rounds 2] [--skip-peers] [--metadata-contracts 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# anvil listens on 127.0.0.1 over http, which the egress guard refuses unless told (shared.egress)
os.environ.setdefault("KITH_EGRESS", '{"allow_http": true, "allow_networks": ["127.0.0.0/8"]}')

from infra.contracts.compile import compile_sources  # noqa: E402
from infra.localcloud.anvil import Anvil, free_port  # noqa: E402
from tests.support.ingest_chain import deploy_tokens  # noqa: E402

STATE = ROOT / ".state" / "bench"
EVENTS_PER_TX = 250
TXS_PER_BLOCK = 4
JOB_BLOCKS = 10  # ~10,000 logs a job on this chain
WORKERS = 3


def say(message: str) -> None:
    print(message, flush=True)


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rpc(url: str, method: str, params: list[Any]) -> Any:
    answer = requests.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=120
    ).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


# ---- the chain -----------------------------------------------------------------------------------


def build_chain(url: str, transfers: int) -> dict[str, Any]:
    from web3 import Web3

    built = compile_sources([ROOT / "tests" / "contracts" / "IngestFixtures.sol"], STATE / "contracts")
    w3 = Web3(Web3.HTTPProvider(url))
    sender = w3.eth.accounts[0]
    contracts: dict[str, Any] = {}
    for key, name, args in (
        ("erc20", "FixtureERC20", ["Bench Token", "BENCH", 18]),
        ("erc721", "FixtureERC721", []),
        ("erc1155", "FixtureERC1155", []),
    ):
        art = built[name]
        data = w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(*args).data_in_transaction
        tx_hash = rpc(url, "eth_sendTransaction", [{"from": sender, "data": data, "gas": hex(5_000_000)}])
        receipt = None
        while receipt is None:
            receipt = rpc(url, "eth_getTransactionReceipt", [tx_hash])
        contracts[key] = w3.eth.contract(address=Web3.to_checksum_address(receipt["contractAddress"]), abi=art.abi)

    shares = {"erc20": 0.4, "erc721": 0.3, "erc1155": 0.3}
    calls: list[dict[str, Any]] = []
    first = 0x1000
    for key, share in shares.items():
        remaining = int(transfers * share) + 1
        while remaining > 0:
            count = min(EVENTS_PER_TX, remaining)
            if key == "erc20":
                data = contracts[key].encode_abi("spray", args=[sender, first, count, 10**18])
            else:
                data = contracts[key].encode_abi("spray", args=[sender, first, count])
            calls.append({"from": sender, "to": contracts[key].address, "data": data, "gas": hex(9_000_000)})
            first += count
            remaining -= count
    nonce = int(rpc(url, "eth_getTransactionCount", [sender, "latest"]), 16)
    rpc(url, "evm_setAutomine", [False])
    started = time.perf_counter()
    for start in range(0, len(calls), TXS_PER_BLOCK):
        batch = [
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "eth_sendTransaction",
                "params": [{**tx, "nonce": hex(nonce + start + i)}],
            }
            for i, tx in enumerate(calls[start : start + TXS_PER_BLOCK])
        ]
        answers = requests.post(url, json=batch, timeout=120).json()
        bad = [a for a in answers if "error" in a]
        if bad:
            raise RuntimeError(f"sending failed: {bad[0]}")
        rpc(url, "evm_mine", [])
    rpc(url, "evm_setAutomine", [True])
    head = int(rpc(url, "eth_blockNumber", []), 16)
    say(f"chain: {len(calls)} transactions, {head} blocks, built in {time.perf_counter() - started:.1f} s")
    return {"contracts": {k: c.address.lower() for k, c in contracts.items()}, "head": head}


# ---- ours ----------------------------------------------------------------------------------------


def chain_config(url: str, contracts: dict[str, str], max_range: int) -> Any:
    from shared.settings import ChainConfig, TrackedContract

    return ChainConfig(
        chain_id=31337,
        rpc_url=url,
        contracts=[TrackedContract(address=a, standard=k) for k, a in contracts.items()],
        max_range=max_range,
        initial_range=max_range,
    )


def ours_fetch_decode(url: str, contracts: dict[str, str], head: int, app_table: str) -> tuple[float, int]:
    """Range jobs on parallel workers (anvil's work overlaps our decoding); metadata comes from cache."""
    from shared.chain.ranges import AdaptiveRange
    from shared.ingest import ChainReader
    from shared.settings import Settings

    config = chain_config(url, contracts, JOB_BLOCKS)
    settings = Settings(events_table="unused", app_table=app_table, chains=[config])
    readers = [ChainReader(config, settings) for _ in range(WORKERS)]
    readers[0].metadata.get_many(contracts.values())  # warm the cache, as a running ingester has it

    def work(job: tuple[int, int]) -> int:
        reader = readers[job[0] // JOB_BLOCKS % len(readers)]
        ranger = AdaptiveRange(JOB_BLOCKS, JOB_BLOCKS)
        total, start = 0, job[0]
        while start <= job[1]:
            fetched = reader.fetch(start, job[1], ranger)
            total += sum(1 for e in reader.decode(fetched).events if e.kind == "transfer")
            start = fetched.to_block + 1
        return total

    jobs = [(a, min(a + JOB_BLOCKS - 1, head)) for a in range(0, head + 1, JOB_BLOCKS)]
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            count = sum(pool.map(work, jobs))
        return time.perf_counter() - started, count
    finally:
        for reader in readers:
            reader.close()


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    binary = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so stopping it reaches any child too
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(endpoint, timeout=0.5)
            return process, endpoint
        except requests.RequestException:
            time.sleep(0.05)
    stop_process(process)
    raise RuntimeError("moto_server did not start")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL to the process group; never raises (moto_server can hang in shutdown)."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            process.send_signal(sig)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    warn(f"moto_server (pid {process.pid}) did not exit; leaving it")


def ours_end_to_end(url: str, contracts: dict[str, str], head: int, physical: dict[str, str]) -> tuple[float, int, int]:
    from shared.ingest import IngestOptions, ingest_chain
    from shared.settings import Settings
    from shared.store.dynamo import REQUESTS

    config = chain_config(url, contracts, 2000)
    settings = Settings(events_table=physical["EventsTable"], app_table=physical["AppTable"], chains=[config])
    REQUESTS.reset()
    started = time.perf_counter()
    summary = ingest_chain(config, settings, IngestOptions(write_workers=6))
    elapsed = time.perf_counter() - started
    return elapsed, summary.events["transfer"], REQUESTS.total("dynamodb:")


def ours_metadata(url: str, tokens: list[str], app_table: str) -> tuple[float, int]:
    """(seconds, HTTP requests) to read the metadata of `tokens`, none of them in memory or the App table."""
    from shared.chain.metadata import MetadataReader, clear_memory_cache

    clear_memory_cache()
    reader = MetadataReader(url, 31337, app_table)
    sent = 0
    post = reader.rpc.session.post

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal sent
        sent += 1
        return post(*args, **kwargs)

    reader.rpc.session.post = counting  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        metas = reader.get_many(tokens)
        elapsed = time.perf_counter() - started
    finally:
        reader.close()
    if any(meta.symbol is None for meta in metas.values()):
        raise RuntimeError("a bench token came back without its symbol")
    return elapsed, sent


# ---- peers ---------------------------------------------------------------------------------------


def ensure_venv(name: str, steps: list[list[str]]) -> Path | None:
    """A virtualenv with each step's packages installed in order (a later step may override a pin)."""
    venv = STATE / name
    python = venv / "bin" / "python"
    marker = venv / ".kith-installed"
    wanted = json.dumps(steps)
    if marker.exists() and marker.read_text() == wanted:
        return python
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        for packages in steps:
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *packages], check=True, capture_output=True, timeout=900
            )
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        warn(f"{name}: could not install {steps}: {exc} {detail.decode(errors='replace')[-300:]}")
        return None
    marker.write_text(wanted)
    return python


CRYO_SCRIPT = """
import json, sys, time, cryo, pathlib, csv
url, head, out = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])
started = time.perf_counter()
for dataset in ("erc20_transfers", "erc721_transfers"):
    cryo.freeze(dataset, blocks=[f"0:{head + 1}"], rpc=url, csv=True, output_dir=str(out / dataset))
elapsed = time.perf_counter() - started
rows = 0
for path in out.rglob("*.csv"):
    with path.open() as handle:
        rows += max(0, sum(1 for _ in handle) - 1)
print(json.dumps({"seconds": elapsed, "rows": rows}))
"""

ETL_SCRIPT = """
import json, sys, time, pathlib
from ethereumetl.cli import cli
url, head, out = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
target = out / "token_transfers.csv"
started = time.perf_counter()
cli.main(["export_token_transfers", "-s", "0", "-e", str(head), "-b", "100", "-w", "4", "-p", url,
          "-o", str(target)], standalone_mode=False)
elapsed = time.perf_counter() - started
rows = max(0, sum(1 for _ in target.open()) - 1)
print(json.dumps({"seconds": elapsed, "rows": rows}))
"""


def run_peer(
    name: str, python: Path | None, script: str, url: str, head: int, round_no: int
) -> tuple[float, int] | None:
    if python is None:
        return None
    out = STATE / f"{name}-out-{os.getpid()}-{round_no}"  # a fresh folder: cryo skips files that exist
    try:
        done = subprocess.run(
            [str(python), "-c", script, url, str(head), str(out)],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    except subprocess.TimeoutExpired:
        warn(f"{name} timed out")
        return None
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if done.returncode != 0:
        warn(f"{name} failed: {done.stderr.strip()[-600:]}")
        return None
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["seconds"]), int(result["rows"])


def best(results: list[tuple[float, int] | None]) -> tuple[float, int] | None:
    """The fastest round by rate (seconds, rows), or None when no round succeeded."""
    done = [r for r in results if r is not None and r[0] > 0]
    return max(done, key=lambda r: r[1] / r[0]) if done else None


def remove_stale_runs() -> None:
    """Per-run folders left by runs that were killed (their pid is gone)."""
    for path in STATE.glob("*-*"):
        if not path.is_dir() or not path.name.startswith(("anvil-", "cryo-out-", "etl-out-")):
            continue
        pid = path.name.split("-")[-1] if path.name.startswith("anvil-") else path.name.split("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)


# ---- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--metadata-contracts", type=int, default=200)
    args = parser.parse_args()
    STATE.mkdir(parents=True, exist_ok=True)
    remove_stale_runs()

    peers: dict[str, Path | None] = {"cryo": None, "etl": None}
    if not args.skip_peers:
        with ThreadPoolExecutor(max_workers=2) as pool:
            cryo_future = pool.submit(ensure_venv, "cryo-venv", [["cryo==0.3.2"]])
            # ethereum-etl pins parsimonious 0.8.1, which imports inspect.getargspec (gone in 3.11)
            etl_future = pool.submit(ensure_venv, "etl-venv", [["ethereum-etl==2.4.2"], ["parsimonious==0.9.0"]])
            peers = {"cryo": cryo_future.result(), "etl": etl_future.result()}

    moto, endpoint = start_moto()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    run_dir = STATE / f"anvil-{os.getpid()}"
    ours_rounds: list[tuple[float, int] | None] = []
    cryo_rounds: list[tuple[float, int] | None] = []
    etl_rounds: list[tuple[float, int] | None] = []
    try:
        with Anvil(chain_id=31337, port=free_port(), state_dir=run_dir) as anvil:
            from infra.localcloud.template import deploy_data_resources, load_template

            physical = deploy_data_resources(load_template(), endpoint, stack_name="kith-bench")
            chain = build_chain(anvil.url, args.transfers)
            contracts, head = chain["contracts"], chain["head"]

            tokens = deploy_tokens(anvil.url, args.metadata_contracts)
            meta_seconds, meta_requests = ours_metadata(anvil.url, tokens, physical["AppTable"])
            say(f"ours token metadata: {len(tokens)} contracts in {meta_requests} HTTP requests, {meta_seconds:.2f} s")
            e2e_seconds, e2e_count, ddb_requests = ours_end_to_end(anvil.url, contracts, head, physical)
            say(
                f"ours end-to-end: {e2e_count} transfers into moto in {e2e_seconds:.2f} s "
                f"({e2e_count / e2e_seconds:,.0f}/s), {ddb_requests} DynamoDB requests"
            )
            for round_no in range(1, max(1, args.rounds) + 1):
                fd_seconds, fd_count = ours_fetch_decode(anvil.url, contracts, head, physical["AppTable"])
                ours_rounds.append((fd_seconds, fd_count))
                say(
                    f"round {round_no} ours fetch+decode: {fd_count} transfers in {fd_seconds:.2f} s "
                    f"({fd_count / fd_seconds:,.0f}/s)"
                )
                cryo = run_peer("cryo", peers["cryo"], CRYO_SCRIPT, anvil.url, head, round_no)
                cryo_rounds.append(cryo)
                if cryo:
                    say(
                        f"round {round_no} cryo 0.3.2: {cryo[1]} ERC-20/721 transfers in {cryo[0]:.2f} s "
                        f"({cryo[1] / cryo[0]:,.0f}/s)"
                    )
                etl = run_peer("etl", peers["etl"], ETL_SCRIPT, anvil.url, head, round_no)
                etl_rounds.append(etl)
                if etl:
                    say(
                        f"round {round_no} ethereum-etl 2.4.2: {etl[1]} ERC-20/721 transfers in {etl[0]:.2f} s "
                        f"({etl[1] / etl[0]:,.0f}/s)"
                    )
    finally:
        stop_process(moto)
        shutil.rmtree(run_dir, ignore_errors=True)

    ours, cryo, etl = best(ours_rounds), best(cryo_rounds), best(etl_rounds)
    assert ours is not None
    ours_tps = ours[1] / ours[0]
    cryo_tps = cryo[1] / cryo[0] if cryo else None
    etl_tps = etl[1] / etl[0] if etl else None
    result = {
        "ours_tps": round(ours_tps, 1),
        "ours_e2e_tps": round(e2e_count / e2e_seconds, 1),
        "etl_tps": round(etl_tps, 1) if etl_tps else None,
        "cryo_tps": round(cryo_tps, 1) if cryo_tps else None,
        "ratio_vs_cryo": round(ours_tps / cryo_tps, 2) if cryo_tps else None,
        "ratio_vs_etl": round(ours_tps / etl_tps, 2) if etl_tps else None,
        "ddb_requests_per_transfer": round(ddb_requests / max(1, e2e_count), 4),
        "metadata_requests_per_contract": round(meta_requests / max(1, len(tokens)), 4),
        "metadata_contracts": len(tokens),
        "transfers": ours[1],
        "blocks": head + 1,
        "rounds": len(ours_rounds),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
