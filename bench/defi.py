"""DeFi lending benchmark: from an oracle price update to the liquidation-risk alerts it causes.

  price_to_alert_s        seconds from the price-update transaction being mined on anvil to the last
                          of its alerts published: ingest of the new block, the Events-table stream,
                          the health function's batched getUserAccountData, the band records, and
                          each alert's lending.band event on the bus (the triggers function queues
                          the sends of the transactional webhook campaign from there). Should the
                          campaign be unusable, the clock stops at the last ALERT# record instead,
                          and `measured_to` says so.
  rpc_calls_per_borrower  getUserAccountData eth_calls per affected borrower for that price update
                          (rpc_http_requests_per_borrower: HTTP requests, a JSON-RPC batch being one)
Context keys: borrowers (exposed to the asset), bystanders (borrowers against another asset, who
must not be read), alerts, alerts_published, ddb_requests_per_borrower, and the breakdown of the time
(ingest_s, stream_s, health_s).

Everything runs here: a moto server process, an anvil chain, the template's data resources; all in a
temporary folder removed at the end. Human lines first, then one JSON object as the last line.
Timings are reported, never asserted.

    .venv/bin/python bench/defi.py [--borrowers 100] [--bystanders 20] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

from infra.localcloud.anvil import Anvil, free_port  # noqa: E402
from shared.settings import ChainConfig, Settings, TrackedContract, get_settings  # noqa: E402
from shared.store.dynamo import REQUESTS, client  # noqa: E402

OUT = sys.stdout
CHAIN_ID = 31337
WETH = 10**18
USDC = 10**6
USD = 10**8


def say(message: str) -> None:
    print(message, file=OUT, flush=True)


class Stream:
    """The Events table's stream, read as the HealthFunction mapping would (its FilterCriteria applied)."""

    def __init__(self, table: str, template: Any) -> None:
        from infra.localcloud.runner import parse_filters

        self.arn = client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self.streams = client("dynamodbstreams")
        shards = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        self.iterators = {
            s["ShardId"]: self.streams.get_shard_iterator(
                StreamArn=self.arn, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for s in shards
        }
        mappings = template.resources_of_type("AWS::Lambda::EventSourceMapping").values()
        (mapping,) = [m for m in mappings if m["Properties"]["FunctionName"] == {"Ref": "HealthFunction"}]
        self.filters = parse_filters(mapping["Properties"].get("FilterCriteria"))

    def read(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        from infra.localcloud.runner import matches_any, stream_lambda_record

        records: list[dict[str, Any]] = []
        for shard, iterator in self.iterators.items():
            while True:
                answer = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                records += answer["Records"]
                iterator = answer["NextShardIterator"]
                if not answer["Records"]:
                    break
            self.iterators[shard] = iterator
        shaped = [stream_lambda_record(r, self.arn, "us-east-1") for r in records]
        return shaped, [r for r in shaped if matches_any(self.filters, r)]


def images(records: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    return [(r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in records]


def wallet(index: int) -> str:
    return f"0x{0xD0000000 + index:040x}"


def open_positions(url: str, addresses: dict[str, str], borrowers: int, bystanders: int, seed: int) -> None:
    """Borrowers against 1 WETH each with HF 1.55..1.85 at $3000 (all warn at $2400), and bystanders
    who borrow against KITH only, in three blocks."""
    from infra.simulator.txs import BatchSender, Rpc, Tx, encode_call

    rng = random.Random(seed)
    pool = addresses["pool"]
    sender = BatchSender(Rpc(url))
    sender.start()
    try:
        supplies, borrows = [], []
        for i in range(borrowers):
            user = wallet(i)
            supplies.append(
                Tx(
                    user,
                    pool,
                    encode_call("supply(address,uint256,address,uint16)", addresses["weth"], WETH, user, 0),
                    250_000,
                )
            )
            hf = rng.uniform(1.55, 1.85)
            debt = int(3000 * 0.825 / hf * USDC)
            borrows.append(
                Tx(
                    user,
                    pool,
                    encode_call("borrow(address,uint256,uint256,uint16,address)", addresses["usdc"], debt, 2, 0, user),
                    400_000,
                )
            )
        for i in range(borrowers, borrowers + bystanders):
            user = wallet(i)
            supplies.append(
                Tx(
                    user,
                    pool,
                    encode_call("supply(address,uint256,address,uint16)", addresses["token"], 10_000 * WETH, user, 0),
                    250_000,
                )
            )
            borrows.append(
                Tx(
                    user,
                    pool,
                    encode_call(
                        "borrow(address,uint256,uint256,uint16,address)", addresses["usdc"], 1000 * USDC, 2, 0, user
                    ),
                    400_000,
                )
            )
        sender.mine_block(supplies)
        sender.mine_block(borrows)
    finally:
        sender.stop()


def wire_campaign(settings: Settings) -> bool:
    """A transactional webhook campaign on lending.band, so fire() enqueues a send per alert."""
    try:
        from shared.campaigns.model import CampaignCreate
        from shared.campaigns.store import create_campaign

        body = CampaignCreate.model_validate(
            {
                "name": "Liquidation risk",
                "channel": "webhook",
                "webhook_url": "http://127.0.0.1:9/alerts",
                "template": {"body": "Your health factor is {{ trigger.health_factor }} ({{ trigger.band }})"},
                "trigger": {"event": "lending.band", "cooldown_days": 0},
                "transactional": True,
                "holdout_pct": 0,
            }
        )
        create_campaign(body, settings)
        return bool(settings.sends_queue_url)
    except Exception as exc:  # the campaigns package is another engineer's, and may move under us
        say(f"campaigns not wired ({type(exc).__name__}: {exc}); timing to the ALERT# records instead")
        return False


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from web3 import Web3

    from infra.contracts.deploy import deploy_suite, load_artifacts, transact
    from infra.localcloud.functions import Resolver
    from infra.localcloud.moto_process import MotoProcess
    from infra.localcloud.template import deploy_data_resources, load_template
    from shared.ingest import ingest_chain
    from shared.lending import health
    from shared.lending.store import load_alerts
    from shared.lending.stream import process_images
    from shared.profiles.stream import apply_images

    template = load_template()
    moto = MotoProcess(free_port(), folder / "moto.log").start()
    try:
        with Anvil(chain_id=CHAIN_ID, port=free_port(), state_dir=folder / "anvil") as chain:
            physical = deploy_data_resources(template, moto.url, stack_name="kith-bench-defi")
            bus = Resolver(template, physical, moto.url, stack_name="kith-bench-defi").event_bus_name("EventBus")
            w3 = Web3(Web3.HTTPProvider(chain.url))
            artifacts = load_artifacts()
            addresses = deploy_suite(w3, artifacts)
            contracts = [
                TrackedContract(address=addresses["pool"], standard="lending-pool", label="pool"),
                TrackedContract(address=addresses["oracle"], standard="price-oracle", label="oracle"),
            ]
            config = ChainConfig(chain_id=CHAIN_ID, rpc_url=chain.url, contracts=contracts, max_range=2000)
            os.environ.update(
                {
                    "AWS_ENDPOINT_URL": moto.url,
                    "EVENTS_TABLE": physical["EventsTable"],
                    "APP_TABLE": physical["AppTable"],
                    "EVENT_BUS_NAME": bus,
                    "KITH_CHAINS": json.dumps([config.model_dump(mode="json")]),
                }
            )
            if "SendsQueue" in physical:
                os.environ["SENDS_QUEUE_URL"] = physical["SendsQueue"]
            get_settings.cache_clear()
            settings = get_settings()
            wired = wire_campaign(settings)
            stream = Stream(physical["EventsTable"], template)

            say(f"opening {args.borrowers} WETH borrowers and {args.bystanders} KITH borrowers")
            open_positions(chain.url, addresses, args.borrowers, args.bystanders, args.seed)
            ingest_chain(config, settings)
            everything, batch = stream.read()
            apply_images(images(everything), settings)
            opened = process_images(images(batch), settings)
            say(f"positions: {opened.positions_applied} events applied, {opened.evaluations} evaluations")

            # the measured path: WETH falls 20%, every WETH borrower crosses into warn
            oracle = w3.eth.contract(
                address=Web3.to_checksum_address(addresses["oracle"]), abi=artifacts["KithPriceOracle"].abi
            )
            REQUESTS.reset()
            health.RPC.reset()
            transact(w3, oracle, "setAssetPrice", addresses["weth"], 2400 * USD, sender=addresses["treasury"])
            mined = time.time()
            ingest_chain(config, settings)
            ingested = time.time()
            everything, batch = stream.read()
            read = time.time()
            outcome = process_images(images(batch), settings)
            done = time.time()
            alerts = [a for i in range(args.borrowers) for a in load_alerts(wallet(i), settings)]
            stamp = "enqueued_at" if wired else "created_at"
            last = max(float(a[stamp]) for a in alerts) if alerts else done
            rpc = health.RPC.counts
            affected = max(outcome.evaluations, 1)
            ddb = sum(v for k, v in REQUESTS.counts.items() if k.startswith("dynamodb:"))
            say(
                f"price update: {outcome.evaluations} borrowers evaluated in {rpc['http_requests']} HTTP requests, "
                f"{len(alerts)} alerts, {outcome.recorded.fired} published on the bus"
            )
            bystanders_read = outcome.evaluations - args.borrowers
            return {
                "price_to_alert_s": round(last - mined, 3),
                "rpc_calls_per_borrower": round(rpc["eth_calls"] / affected, 3),
                "rpc_http_requests_per_borrower": round(rpc["http_requests"] / affected, 4),
                "measured_to": "bus_publish" if wired else "alert_record",
                "borrowers": args.borrowers,
                "bystanders": args.bystanders,
                "bystanders_read": bystanders_read,
                "alerts": len(alerts),
                "alerts_published": outcome.recorded.fired,
                "ddb_requests_per_borrower": round(ddb / affected, 2),
                "ingest_s": round(ingested - mined, 3),
                "stream_s": round(read - ingested, 3),
                "health_s": round(last - read, 3),
            }
    finally:
        moto.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--borrowers", type=int, default=100, help="WETH borrowers the price move reaches")
    parser.add_argument("--bystanders", type=int, default=20, help="borrowers against KITH only")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kith-bench-defi-") as tmp:
        results = run(args, Path(tmp))
    say(f"elapsed {time.perf_counter() - began:.0f} s")
    say(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
