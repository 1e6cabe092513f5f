"""Profiles benchmark: how fast chain events become profiles, scores and segment membership, and
what each event costs in AWS requests.

  records_per_s           stream records the ProfilesFunction mapping applied per second while a
                          LocalCloud with a small simulated community catches up (first ingest
                          trigger -> every chain ingested and the pipeline idle)
  ddb_requests_per_event  DynamoDB requests per event of shared.profiles.store.apply_changes on a
                          synthetic in-order stream of ERC-20 transfers, in batches of 100 (moto, the
                          data resources of template.yaml)
  upkeep_requests_1k/10k  DynamoDB + EventBridge requests that segment maintenance
                          (shared.segments.wallets.evaluate_wallets, the segments function's work) costs for ONE
                          transfer between two ordinary holders, in communities of 1,000 and 10,000
                          wallets with the same five segments; it must not grow with the community
  freshness_p50_s/p95_s   seconds from a transfer mined on anvil until the API (HTTP) shows the
                          receiver's new score AND its new segment membership
Context keys: upkeep_floor_move_requests_* (one transfer that moves a token's whale floor, so every
holder above it is re-derived: grows with the community, ~1% of it), upkeep_ratio (10k / 1k),
profiles_handler_records_per_s (records per second of ProfilesFunction handler time alone) and
freshness_score_p50_s (the new score alone), and what the batching windows cost: invocations of the
profiles and segments functions per 1,000 events during the catch-up (catch_up_invocations_per_1k_*)
and while transfers trickle in one at a time (trickle_invocations_per_1k_*).

Populations are built through the real store (apply_changes, evaluate_wallets), never by writing
items by hand. Before the upkeep is counted, the wallets it touches (and the top 2% of holders, whom
a floor move re-derives) have been derived once, as the segments function would have; a wallet's
upkeep depends only on its own items and the token's stored floor, not on the rest of the community.
moto runs in a process of its own (infra.localcloud.moto_process). Everything lives in a temporary
folder that is removed at the end. Human lines first, then one JSON object as the last
line. Timings are reported, never asserted (the machine may be shared).

    .venv/bin/python bench/profiles.py [--wallets 300] [--days 60] [--transfers 15]
                                       [--events 2000] [--populations 1000,10000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

from infra.localcloud.anvil import free_port, free_port_pair  # noqa: E402
from shared.events import ChainEvent, Standard, TokenTransfer, VoteCast  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store.dynamo import REQUESTS  # noqa: E402

# The local cloud routes stdout/stderr to its log files while it runs; the bench writes here.
OUT = sys.stdout
DAY = 86_400
CHAIN_ID = 31337
TOKEN = "0x" + "7e" * 20
GOVERNOR = "0x" + "60" * 20
ZERO = "0x" + "00" * 20
EVENTS_PER_BLOCK = 20
BATCH = 100  # the ProfilesFunction mapping's BatchSize
EVALUATION_BATCH = 1000  # wallets handed to evaluate_wallets at once while building a population
UPKEEP_SERVICES = ("dynamodb:", "events:")
VISIBLE_TIMEOUT = 60  # seconds a transfer may take to show in the API before it counts as lost

# The same five audiences in every population (the demo's kind of segments).
UPKEEP_SEGMENTS: list[tuple[str, dict[str, Any]]] = [
    ("Whales", {"match": {"type": "label", "label": "whale"}}),
    (
        "Drifting away",
        {
            "match": {
                "type": "all",
                "of": [
                    {"type": "days_since", "field": "last_active", "op": "gte", "days": 30},
                    {"type": "holding", "standard": "erc20", "min_adjusted": 1.0},
                ],
            }
        },
    ),
    ("Sold out", {"match": {"type": "churn", "state": "exited"}}),
    (
        "Active voters",
        {
            "match": {
                "type": "all",
                "of": [
                    {"type": "label", "label": "voter"},
                    {"type": "not", "rule": {"type": "churn", "state": "exited"}},
                ],
            }
        },
    ),
    ("Big holders", {"match": {"type": "holding", "standard": "erc20", "min_adjusted": 10_000.0}}),
]


def say(message: str) -> None:
    print(message, file=OUT, flush=True)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def breakdown(prefixes: tuple[str, ...] = UPKEEP_SERVICES) -> str:
    counts = {k: v for k, v in REQUESTS.counts.items() if k.startswith(prefixes)}
    return ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


# ---- synthetic chain events ---------------------------------------------------------------------


def wallet(index: int) -> str:
    return f"0x{0xB0000000 + index:040x}"


class Chain:
    """Hands out block positions in order: EVENTS_PER_BLOCK events a block, block times never going back."""

    def __init__(self) -> None:
        self.block = 0
        self.log_index = EVENTS_PER_BLOCK
        self.block_time = 0

    def position(self, when: int) -> dict[str, Any]:
        if self.log_index >= EVENTS_PER_BLOCK or when > self.block_time + 12:
            self.block += 1
            self.log_index = 0
            self.block_time = max(when, self.block_time + 1)
        self.log_index += 1
        return {
            "chain_id": CHAIN_ID,
            "block_number": self.block,
            "block_hash": f"0x{self.block:064x}",
            "block_time": self.block_time,
            "tx_hash": f"0x{self.block:032x}{self.log_index:032x}",
            "log_index": self.log_index - 1,
        }

    def transfer(self, when: int, sender: str, receiver: str, amount: int) -> TokenTransfer:
        return TokenTransfer(
            **self.position(when),
            contract=TOKEN,
            standard=Standard.ERC20,
            from_address=sender,
            to_address=receiver,
            amount=amount,
            decimals=18,
            symbol="BENCH",
        )

    def vote(self, when: int, voter: str, proposal: int, weight: int) -> VoteCast:
        return VoteCast(
            **self.position(when),
            contract=GOVERNOR,
            standard=Standard.GOVERNOR,
            voter=voter,
            proposal_id=proposal,
            support=1,
            weight=weight,
        )


def transfer_stream(count: int, wallets: int, now: int, seed: int) -> list[ChainEvent]:
    """`wallets` mints, then random transfers between holders (never more than the sender holds)."""
    rng = random.Random(seed)
    chain = Chain()
    start = now - 30 * DAY
    step = (29 * DAY) // max(1, count)
    balances: dict[str, int] = {}
    events: list[ChainEvent] = []
    for i in range(count):
        when = start + i * step
        if i < wallets:
            receiver, amount = wallet(i), int(10 ** rng.uniform(1, 5)) * 10**18
            events.append(chain.transfer(when, ZERO, receiver, amount))
        else:
            sender = wallet(rng.randrange(wallets))
            receiver = wallet(rng.randrange(wallets))
            amount = max(1, balances.get(sender, 0) * rng.randint(1, 60) // 100)
            if balances.get(sender, 0) < amount or sender == receiver:
                sender = ZERO  # a fresh mint keeps the stream valid
            events.append(chain.transfer(when, sender, receiver, amount))
        last = events[-1]
        assert isinstance(last, TokenTransfer)
        balances[last.from_address] = balances.get(last.from_address, 0) - last.amount
        balances[last.to_address] = balances.get(last.to_address, 0) + last.amount
    return events


def population_stream(n: int, now: int, seed: int) -> tuple[list[ChainEvent], Chain]:
    """n wallets minted over 180 days; 4% later sell out, 5% vote on three proposals."""
    rng = random.Random(seed)
    start, end = now - 180 * DAY, now - DAY
    planned: list[tuple[int, int, str, int]] = []  # (time, order, kind, wallet index)
    for i in range(n):
        minted = start + (end - start) * i // n
        planned.append((minted, len(planned), "mint", i))
        if i % 25 == 3 and minted + 30 * DAY < end:
            planned.append((minted + 30 * DAY, len(planned), "exit", i))
        if i % 20 == 5:
            for k in range(3):
                if minted + (k + 1) * 5 * DAY < end:
                    planned.append((minted + (k + 1) * 5 * DAY, len(planned), f"vote{k}", i))
    planned.sort()
    chain = Chain()
    balances: dict[str, int] = {}
    events: list[ChainEvent] = []
    for when, _, kind, i in planned:
        address = wallet(i)
        if kind == "mint":
            amount = int(10 ** rng.uniform(0, 5)) * 10**18
            events.append(chain.transfer(when, ZERO, address, amount))
            balances[address] = balances.get(address, 0) + amount
        elif kind == "exit":
            amount = balances.get(address, 0)
            if amount <= 0:
                continue
            receiver = wallet((i * 7 + 1) % n if (i * 7 + 1) % n != i else (i + 1) % n)
            events.append(chain.transfer(when, address, receiver, amount))
            balances[address] = 0
            balances[receiver] = balances.get(receiver, 0) + amount
        else:
            events.append(chain.vote(when, address, int(kind[-1]) + 1, balances.get(address, 0)))
    return events, chain


def apply_in_batches(events: list[ChainEvent], settings: Settings) -> None:
    from shared.profiles.store import apply_changes

    for start in range(0, len(events), BATCH):
        apply_changes([(None, e) for e in events[start : start + BATCH]], settings)


# ---- moto on its own, the template's data resources ---------------------------------------------


class MotoStacks:
    """One moto server process; `stack()` deploys a fresh copy of the template's data resources."""

    def __init__(self, folder: Path) -> None:
        from infra.localcloud.moto_process import MotoProcess
        from infra.localcloud.template import load_template

        folder.mkdir(parents=True, exist_ok=True)
        self.process = MotoProcess(free_port(), folder / "moto.log").start()
        self.endpoint = self.process.url
        self.template = load_template()
        self.count = 0

    def stack(self) -> Settings:
        from infra.localcloud.functions import Resolver
        from infra.localcloud.template import deploy_data_resources

        self.count += 1
        name = f"kith-bench-profiles-{self.count}"
        physical = deploy_data_resources(self.template, self.endpoint, stack_name=name)
        bus = Resolver(self.template, physical, self.endpoint, stack_name=name).event_bus_name("EventBus")
        return Settings(
            events_table=physical["EventsTable"],
            app_table=physical["AppTable"],
            event_bus_name=bus,
        )

    def stop(self) -> None:
        self.process.stop()


@contextlib.contextmanager
def environment(endpoint: str, settings: Settings) -> Iterator[None]:
    """Point shared.store.dynamo (and get_settings, for any code that reads it) at one moto stack."""
    from shared.settings import get_settings

    values = {
        "AWS_ENDPOINT_URL": endpoint,
        "EVENTS_TABLE": settings.events_table,
        "APP_TABLE": settings.app_table,
        "EVENT_BUS_NAME": settings.event_bus_name,
    }
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


def bench_apply(moto: MotoStacks, events: int, results: dict[str, Any]) -> None:
    settings = moto.stack()
    wallets = max(10, events // 7)
    stream = transfer_stream(events, wallets, int(time.time()), seed=3)
    with environment(moto.endpoint, settings):
        REQUESTS.reset()
        started = time.perf_counter()
        apply_in_batches(stream, settings)
        elapsed = time.perf_counter() - started
        total = REQUESTS.total("dynamodb:")
        say(
            f"apply_changes: {len(stream)} in-order ERC-20 transfers among {wallets} wallets "
            f"({wallets} mints first), batches of {BATCH}: {total} DynamoDB requests "
            f"({breakdown(('dynamodb:',))}) in {elapsed:.1f} s"
        )
    results["ddb_requests_per_event"] = round(total / len(stream), 4)
    say(f"  -> {results['ddb_requests_per_event']} DynamoDB requests per event")


def _balances(events: list[ChainEvent]) -> dict[str, int]:
    balances: dict[str, int] = {}
    for event in events:
        if isinstance(event, TokenTransfer):
            balances[event.from_address] = balances.get(event.from_address, 0) - event.amount
            balances[event.to_address] = balances.get(event.to_address, 0) + event.amount
    balances.pop(ZERO, None)
    return balances


def _measure_upkeep(event: TokenTransfer, settings: Settings) -> tuple[int, int, list[Any]]:
    """Apply one transfer (profiles), then count the segment maintenance it causes (segments)."""
    from shared.segments.wallets import evaluate_wallets

    REQUESTS.reset()
    apply_in_batches([event], settings)
    applied = REQUESTS.total("dynamodb:")
    REQUESTS.reset()
    outcomes = evaluate_wallets([a for a in (event.from_address, event.to_address) if a != ZERO], settings)
    upkeep = sum(REQUESTS.total(p) for p in UPKEEP_SERVICES)
    return applied, upkeep, outcomes


def bench_upkeep(moto: MotoStacks, n: int, results: dict[str, Any]) -> dict[str, Any]:
    from shared.segments.rules import parse_rule
    from shared.segments.store import create_segment
    from shared.segments.wallets import evaluate_wallets

    settings = moto.stack()
    now = int(time.time())
    events, chain = population_stream(n, now, seed=n)
    found: dict[str, Any] = {"wallets": n, "events": len(events)}
    with environment(moto.endpoint, settings):
        for name, rule in UPKEEP_SEGMENTS:
            create_segment(name, parse_rule(rule), settings=settings)
        started = time.perf_counter()
        apply_in_batches(events, settings)
        found["apply_s"] = time.perf_counter() - started
        balances = _balances(events)
        ranked = sorted(((b, a) for a, b in balances.items() if b > 0), reverse=True)
        top = max(1, math.ceil(len(ranked) * settings.labels.whale_top_fraction))
        found["whales"] = top
        # an ordinary transfer: between two holders in the lower half (holder count and whale floor unchanged)
        sender, receiver = ranked[len(ranked) * 3 // 5][1], ranked[len(ranked) * 7 // 10][1]
        # the rare, expensive case: a mint lifts a mid holder just above the whale floor, so the floor
        # moves and every holder above it is re-derived (those are ~1% of the community)
        climber = ranked[len(ranked) // 2][1]
        # The segments function has derived every wallet once before (state, memberships, whale floor).
        # Each wallet's upkeep depends only on its own stored items and the token's stored floor, so
        # only the wallets these measurements touch are derived first: the top holders and the three.
        started = time.perf_counter()
        warm = list(dict.fromkeys([*(a for _, a in ranked[: 2 * top + 5]), sender, receiver, climber]))
        for start in range(0, len(warm), EVALUATION_BATCH):
            evaluate_wallets(warm[start : start + EVALUATION_BATCH], settings)
        found["evaluate_s"] = time.perf_counter() - started
        found["warmed"] = len(warm)
        ordinary = chain.transfer(now - 60, sender, receiver, max(1, balances[sender] // 10))
        found["apply_requests"], found["upkeep"], outcomes = _measure_upkeep(ordinary, settings)
        found["upkeep_breakdown"] = breakdown()
        found["changes"] = sum(len(o.entered) + len(o.exited) for o in outcomes)
        balances = _balances([*events, ordinary])
        floor = sorted((b for b in balances.values() if b > 0), reverse=True)[top - 1]
        mint = chain.transfer(now - 30, ZERO, climber, floor + 1 - balances[climber])
        _, found["floor_move_upkeep"], outcomes = _measure_upkeep(mint, settings)
        found["floor_move_wallets"] = len(outcomes)
    return found


def run_moto_phase(folder: Path, args: argparse.Namespace, results: dict[str, Any]) -> None:
    moto = MotoStacks(folder)
    try:
        bench_apply(moto, args.events, results)
        upkeep: dict[int, dict[str, Any]] = {}
        for n in args.populations:
            found = bench_upkeep(moto, n, results)
            upkeep[n] = found
            say(
                f"population of {n} wallets: {found['events']} events applied in {found['apply_s']:.1f} s, "
                f"{found['warmed']} wallets derived first in {found['evaluate_s']:.1f} s "
                f"({len(UPKEEP_SEGMENTS)} segments, {found['whales']} whales)"
            )
            say(
                f"  one ordinary transfer: profiles {found['apply_requests']} DynamoDB requests; segment upkeep "
                f"{found['upkeep']} requests ({found['upkeep_breakdown']}; {found['changes']} membership changes)"
            )
            say(
                f"  one transfer that moves the whale floor: upkeep {found['floor_move_upkeep']} requests "
                f"({found['floor_move_wallets']} wallets re-derived)"
            )
    finally:
        moto.stop()
    names = {1000: "1k", 10000: "10k"}
    for n, found in upkeep.items():
        label = names.get(n, str(n))
        results[f"upkeep_requests_{label}"] = found["upkeep"]
        results[f"upkeep_floor_move_requests_{label}"] = found["floor_move_upkeep"]
    if len(upkeep) >= 2:
        small, large = min(upkeep), max(upkeep)
        ratio = upkeep[large]["upkeep"] / max(1, upkeep[small]["upkeep"])
        results["upkeep_ratio"] = round(ratio, 3)
        say(
            f"segment upkeep for one transfer: {upkeep[small]['upkeep']} requests at {small} wallets, "
            f"{upkeep[large]['upkeep']} at {large}: ratio {ratio:.2f} (flat = 1.00)"
        )


# ---- the local cloud: throughput and freshness --------------------------------------------------


def _profile_records(cloud: Any) -> int:
    return sum(p.stats.records for p in cloud.app.runner.stream_pollers if p.spec.function == "ProfilesFunction")


class Api:
    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def get(self, path: str) -> Any:
        response = self.session.get(f"{self.url}{path}", timeout=60)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.session.post(f"{self.url}{path}", json=body, timeout=60)
        response.raise_for_status()
        return response.json()


def _token_balance(wallet_view: Any, token: str) -> int:
    """The wallet's balance of `token` on the bench's chain (the demo deploys the same addresses on both)."""
    if wallet_view is None:
        return 0
    return sum(
        int(h["balance"]) for h in wallet_view["holdings"] if h["contract"] == token and h["chain_id"] == CHAIN_ID
    )


def _wait_for_receipt(rpc: Any, tx_hash: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        receipt = rpc.call("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return dict(receipt)
        time.sleep(0.005)
    raise RuntimeError(f"transaction {tx_hash} was not mined within {timeout:.0f} s")


def bench_freshness(cloud: Any, transfers: int, results: dict[str, Any]) -> None:
    from infra.simulator.txs import Rpc, encode_call

    chain = next(c for c in cloud.deployment.chains if c.chain_id == CHAIN_ID)
    token = chain.contracts["token"].lower()
    rpc = Rpc(chain.rpc_url)
    api = Api(cloud.url, cloud.admin_key)

    def balance_of(address: str) -> int:
        data = encode_call("balanceOf(address)", address)
        return int(rpc.call("eth_call", [{"to": token, "data": data}, "latest"]), 16)

    # receivers: holders of the token with the smallest positive balances; the sender: the treasury
    wallets = sorted(set(cloud.deployment.wallets))
    answers = rpc.batch(
        [("eth_call", [{"to": token, "data": encode_call("balanceOf(address)", w)}, "latest"]) for w in wallets]
    )
    balances = {w: int(a, 16) for w, a in zip(wallets, answers, strict=True)}
    holders = sorted((b, w) for w, b in balances.items() if b > 0)
    receivers = [w for _, w in holders[:transfers]]
    threshold = max(balances[w] for w in receivers) + 10**18
    sender = chain.deployer.lower()
    needed = sum(threshold - balances[w] for w in receivers)
    if balance_of(sender) < needed:
        sender = max(balances, key=lambda w: balances[w])
    if balance_of(sender) < needed:
        raise RuntimeError(f"no wallet holds the {needed} base units the freshness transfers need")

    # a segment every receiver enters with its transfer, created and evaluated through the API
    rule = {"match": {"type": "holding", "chain_id": CHAIN_ID, "contract": token, "min_balance": str(threshold)}}
    created = api.post("/segments", {"name": "Bench: holds the threshold", "rule": rule})
    segment_id = created["definition"]["segment_id"]
    cloud.drain(timeout=180)
    status = api.get(f"/segments/{segment_id}")["definition"]["status"]
    say(
        f"freshness: segment {segment_id} (holds >= {threshold / 10**18:.2f} tokens) is {status}; "
        f"{len(receivers)} receivers below it, sender {sender}"
    )

    rpc.call("anvil_autoImpersonateAccount", [True])
    invocations_before = dict(cloud.app.runner.stats()["invocations"])
    latencies: list[float] = []
    score_latencies: list[float] = []  # the new score alone, before the membership
    timeouts = 0
    try:
        for receiver in receivers:
            before = api.get(f"/wallets/{receiver}")
            score_before = before["score"] if before else 0.0
            if api.get(f"/segments/{segment_id}/members/{receiver}")["member"]:
                raise RuntimeError(f"{receiver} is a member before its transfer")
            expected = balances[receiver] + (threshold - balances[receiver])
            rpc.call("anvil_setNextBlockBaseFeePerGas", ["0x0"])
            tx = {
                "from": sender,
                "to": token,
                "data": encode_call("transfer(address,uint256)", receiver, threshold - balances[receiver]),
                "gas": hex(100_000),
                "gasPrice": "0x0",
            }
            tx_hash = rpc.call("eth_sendTransaction", [tx])
            receipt = _wait_for_receipt(rpc, tx_hash)  # automine: mined a few milliseconds later
            mined = time.perf_counter()
            cloud.app.runner.trigger_now("IngestFunction")  # as the ingest schedule would
            if receipt["status"] != "0x1":
                raise RuntimeError(f"the transfer to {receiver} reverted: {receipt}")
            scored_at: float | None = None
            member_at: float | None = None
            deadline = mined + VISIBLE_TIMEOUT
            while time.perf_counter() < deadline and (scored_at is None or member_at is None):
                if scored_at is None:
                    view = api.get(f"/wallets/{receiver}")
                    if _token_balance(view, token) == expected and view["score"] > score_before:
                        scored_at = time.perf_counter() - mined
                if member_at is None and api.get(f"/segments/{segment_id}/members/{receiver}")["member"]:
                    member_at = time.perf_counter() - mined
                if scored_at is None or member_at is None:
                    time.sleep(0.1)
            if scored_at is not None and member_at is not None:
                latencies.append(max(scored_at, member_at))
                score_latencies.append(scored_at)
            else:
                timeouts += 1
                say(
                    f"  {receiver}: not visible after {VISIBLE_TIMEOUT} s "
                    f"(new score after {scored_at} s, membership after {member_at} s)"
                )
            cloud.drain(timeout=120)  # every transfer starts from an idle pipeline
    finally:
        rpc.call("anvil_autoImpersonateAccount", [False])
        rpc.close()
    if not latencies:
        raise RuntimeError("no transfer became visible through the API")
    # one transfer is one event (two wallets' sides); at a trickle each is a batch of its own
    invocations_after = cloud.app.runner.stats()["invocations"]
    for name in ("ProfilesFunction", "SegmentsFunction"):
        spent = invocations_after.get(name, 0) - invocations_before.get(name, 0)
        results[f"trickle_invocations_per_1k_events_{name.removesuffix('Function').lower()}"] = round(
            1000 * spent / max(1, len(receivers)), 1
        )
    results["freshness_p50_s"] = round(statistics.median(latencies), 3)
    results["freshness_p95_s"] = round(percentile(latencies, 0.95), 3)
    say(
        f"freshness over {len(latencies)} transfers ({timeouts} timed out): p50 {results['freshness_p50_s']} s, "
        f"p95 {results['freshness_p95_s']} s, min {min(latencies):.2f} s, max {max(latencies):.2f} s"
    )
    results["freshness_score_p50_s"] = round(statistics.median(score_latencies), 3)
    results["freshness_score_p95_s"] = round(percentile(score_latencies, 0.95), 3)
    say(
        f"  the new score alone: p50 {statistics.median(score_latencies):.2f} s, "
        f"p95 {percentile(score_latencies, 0.95):.2f} s (the rest is the segments stream and its batching window)"
    )


@contextlib.contextmanager
def handler_seconds() -> Iterator[dict[str, float]]:
    """Seconds each function's handler runs (not waiting for the host's lock), in this process only."""
    from infra.localcloud.functions import FunctionHost

    busy: dict[str, float] = {}
    original = FunctionHost.handler

    def timed_handler(host: FunctionHost, logical_id: str) -> Any:
        handler = original(host, logical_id)

        def run(event: Any, context: Any) -> Any:
            started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                busy[logical_id] = busy.get(logical_id, 0.0) + time.perf_counter() - started

        return run

    FunctionHost.handler = timed_handler  # type: ignore[method-assign,assignment]
    try:
        yield busy
    finally:
        FunctionHost.handler = original  # type: ignore[method-assign]


def run_cloud_phase(folder: Path, args: argparse.Namespace, results: dict[str, Any]) -> None:
    from infra.localcloud.main import LocalCloud, LocalCloudConfig

    last = [0.0]

    def progress(line: str) -> None:
        if time.monotonic() - last[0] > 10:
            say(f"  {line}")
            last[0] = time.monotonic()

    config = LocalCloudConfig(
        state_dir=folder / ".state",
        api_port=free_port(),
        moto_port=free_port(),
        anvil_port=free_port_pair(),
        wallets=args.wallets,
        days=args.days,
        seed=args.seed,
        log_to_files=True,  # handler logs and metrics go to the state folder, not into this output
    )
    cloud = LocalCloud(config, progress=progress)
    with handler_seconds() as busy, contextlib.ExitStack() as stop:
        stop.callback(cloud.stop)
        started = time.perf_counter()
        cloud.start()  # its last step triggers the first ingest
        triggered = time.perf_counter()
        summary = cloud.deployment.summary
        say(
            f"local cloud: {summary.wallets} wallets, {summary.days} days, {summary.events_total} chain events "
            f"on {len(cloud.deployment.chains)} chains; up (simulation included) in {triggered - started:.1f} s"
        )
        cloud.catch_up(timeout=600, on_progress=progress)
        elapsed = time.perf_counter() - triggered
        assert cloud.app is not None and cloud.app.runner is not None
        stats = cloud.app.runner.stats()
        records = _profile_records(cloud)
        errors = sum(stats["errors"].values())
        results["records_per_s"] = round(records / elapsed, 1)
        events_total = max(1, summary.events_total)
        for name in ("ProfilesFunction", "SegmentsFunction"):
            per_1k = 1000 * stats["invocations"].get(name, 0) / events_total
            results[f"catch_up_invocations_per_1k_events_{name.removesuffix('Function').lower()}"] = round(per_1k, 1)
        say(
            f"catch-up: {records} stream records applied by ProfilesFunction in {elapsed:.1f} s "
            f"({results['records_per_s']} records/s); invocations {stats['invocations']}; function errors {errors}"
        )
        busy_line = ", ".join(
            f"{name} {seconds:.1f} s" for name, seconds in sorted(busy.items(), key=lambda kv: -kv[1])
        )
        say(f"  handler time during catch-up (invocations run side by side): {busy_line}")
        if busy.get("ProfilesFunction"):
            results["profiles_handler_records_per_s"] = round(records / busy["ProfilesFunction"], 1)
            say(f"  ProfilesFunction alone: {results['profiles_handler_records_per_s']} records per handler-second")
        bench_freshness(cloud, args.transfers, results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wallets", type=int, default=300, help="simulated community of the local cloud")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--transfers", type=int, default=15, help="transfers timed for freshness")
    parser.add_argument("--events", type=int, default=2000, help="synthetic stream for requests per event")
    parser.add_argument(
        "--populations",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1000, 10000],
        help="community sizes for segment upkeep",
    )
    parser.add_argument("--skip-cloud", action="store_true", help="only the moto measurements")
    parser.add_argument("--skip-moto", action="store_true", help="only the local cloud measurements")
    args = parser.parse_args()

    results: dict[str, Any] = {}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kith-bench-profiles-") as tmp:
        if not args.skip_moto:
            run_moto_phase(Path(tmp) / "moto", args, results)
        if not args.skip_cloud:
            run_cloud_phase(Path(tmp) / "cloud", args, results)
    say(f"elapsed {time.perf_counter() - began:.0f} s")
    say(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
