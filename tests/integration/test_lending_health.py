"""Health factors, bands and alerts of real pool positions (anvil + moto): the pool's own numbers,
exactly one alert per crossing, latches that re-arm only after recovery, liquidations marked, and a
price update that reads only the wallets exposed to its asset."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from infra.contracts.deploy import deploy_suite, load_artifacts, transact
from infra.localcloud.anvil import Anvil
from infra.localcloud.runner import matches_any, parse_filters, stream_lambda_record
from infra.localcloud.template import Template
from shared.api.lending_view import lending_view
from shared.lending import health as health_module
from shared.lending.model import AccountData, band_of
from shared.lending.store import exposed_wallets, load_alerts, load_health_records, load_positions
from shared.lending.stream import BatchOutcome, process_images
from shared.profiles.stream import apply_images as apply_profiles
from shared.segments.wallets import evaluate_wallets
from shared.settings import ChainConfig, Settings, TrackedContract, get_settings
from shared.store import keys
from shared.store.dynamo import REQUESTS, client
from tests.support.ingest_chain import fast_options

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CHAIN = 31337
WETH = 10**18
USDC = 10**6
USD = 10**8  # oracle prices have 8 decimals


class StreamReader:
    """The Events table's stream read from the start, as Lambda would deliver it to a function."""

    def __init__(self, table: str, template: Template, function: str) -> None:
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
        streams = [m for m in mappings if "StartingPosition" in m["Properties"]]  # not its SQS mappings
        (mapping,) = [m for m in streams if m["Properties"]["FunctionName"] == {"Ref": function}]
        self.filters = parse_filters(mapping["Properties"].get("FilterCriteria"))

    def read(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(every new record, the records the function's FilterCriteria lets through)."""
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


class Lab:
    """A deployed pool and oracle with tracked positions, ingested and processed step by step."""

    def __init__(self, chain: Anvil, deployed: Any, template: Template, monkeypatch: pytest.MonkeyPatch) -> None:
        self.w3 = Web3(Web3.HTTPProvider(chain.url))
        artifacts = load_artifacts()
        self.addresses = deploy_suite(self.w3, artifacts)
        self.owner = self.addresses["treasury"]
        self.pool = self.w3.eth.contract(
            address=Web3.to_checksum_address(self.addresses["pool"]), abi=artifacts["KithLendingPool"].abi
        )
        self.oracle = self.w3.eth.contract(
            address=Web3.to_checksum_address(self.addresses["oracle"]), abi=artifacts["KithPriceOracle"].abi
        )
        self.users = [str(a).lower() for a in self.w3.eth.accounts[1:6]]
        contracts = [
            TrackedContract(address=self.addresses["pool"], standard="lending-pool", label="pool"),
            TrackedContract(address=self.addresses["oracle"], standard="price-oracle", label="oracle"),
            *(TrackedContract(address=self.addresses[r], standard="erc20", label=r) for r in ("weth", "usdc", "token")),
        ]
        self.config = ChainConfig(chain_id=CHAIN, rpc_url=chain.url, contracts=contracts, max_range=500)
        monkeypatch.setenv("KITH_CHAINS", json.dumps([self.config.model_dump(mode="json")]))
        monkeypatch.setenv("KITH_LENDING", json.dumps({"alert_min_interval_s": 3600}))
        bus = client("events").create_event_bus(Name=f"{deployed.app_table}-bus")["EventBusArn"].split("/")[-1]
        monkeypatch.setenv("EVENT_BUS_NAME", bus)  # lending.band alerts are published there
        get_settings.cache_clear()
        self.settings: Settings = get_settings()
        self.stream = StreamReader(deployed.events_table, template, "HealthFunction")
        self.app_stream = StreamReader(deployed.app_table, template, "SegmentsFunction")
        self.last_batch: list[dict[str, Any]] = []

    def act(self, user: str, function: str, *args: Any) -> int:
        return int(transact(self.w3, self.pool, function, *args, sender=user)["blockNumber"])

    def set_price(self, role: str, usd: float) -> int:
        receipt = transact(
            self.w3, self.oracle, "setAssetPrice", self.addresses[role], int(usd * USD), sender=self.owner
        )
        return int(receipt["blockNumber"])

    def step(self) -> BatchOutcome:
        """Ingest what is new, apply it to profiles, then hand the filtered batch to the health function."""
        from shared.ingest import ingest_chain

        ingest_chain(self.config, self.settings, fast_options())
        everything, batch = self.stream.read()
        apply_profiles(
            ((r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in everything), self.settings
        )
        self.last_batch = batch
        outcome = self.deliver(batch)
        _, changed = self.app_stream.read()  # what the App table's stream hands the segments function
        evaluate_wallets(sorted({keys.wallet_of(r["dynamodb"]["Keys"]["pk"]["S"]) for r in changed}), self.settings)
        return outcome

    def deliver(self, batch: list[dict[str, Any]]) -> BatchOutcome:
        return process_images(
            ((r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in batch), self.settings
        )

    def account(self, user: str, block: int) -> AccountData:
        data = self.w3.eth.call(
            {
                "to": self.pool.address,
                "data": health_module._call(health_module.Request(block, CHAIN, "", user, 0))["data"],
            },
            block,
        )
        return AccountData.decode("0x" + bytes(data).hex())

    def alerts(self, user: str) -> list[tuple[int, str, str]]:
        return sorted((a["seq"], a["band"], a["status"]) for a in load_alerts(user, self.settings))

    def record(self, user: str) -> Any:
        (found,) = [r for r in load_health_records(user, self.settings) if r.pool == self.addresses["pool"]]
        return found

    def assert_matches_pool(self, *users: str) -> None:
        for user in users:
            stored = self.record(user)
            truth = self.account(user, stored.block)
            assert stored.health_factor_wad == str(truth.health_factor), user
            assert stored.total_debt_base == str(truth.total_debt_base), user
            assert stored.band == band_of(truth.health_factor, self.settings.lending), user


@pytest.fixture
def lab(anvil_chain: Anvil, deployed: Any, template: Template, monkeypatch: pytest.MonkeyPatch) -> Lab:
    return Lab(anvil_chain, deployed, template, monkeypatch)


def test_price_moves_alert_once_per_crossing_latch_and_mark_liquidations(lab: Lab) -> None:
    # Given four borrowers against 1 WETH each (HF 2.48, 1.77, 1.55 at $3000), one against KITH only,
    # and a supplier who owes nothing
    a, b, c, d, e = lab.users
    weth, usdc, kith = (lab.addresses[r] for r in ("weth", "usdc", "token"))
    for user, debt in ((a, 1000), (b, 1400), (c, 1600)):
        lab.act(user, "supply", weth, WETH, user, 0)
        lab.act(user, "borrow", usdc, debt * USDC, 2, 0, user)
    lab.act(d, "supply", kith, 10_000 * WETH, d, 0)
    lab.act(d, "borrow", usdc, 1000 * USDC, 2, 0, d)
    lab.act(e, "supply", weth, WETH, e, 0)

    # When the positions are ingested and processed
    opened = lab.step()

    # Then each event applied once (5 supplies, their 5 collateral switches, 4 borrows), and each
    # borrower's health factor is the pool's at the block of its last event, all safe
    assert opened.positions_applied == 14 and opened.recorded.alerts == 0
    lab.assert_matches_pool(a, b, c, d)
    assert {lab.record(u).band for u in (a, b, c, d)} == {"safe"}
    # and the exposure index lists exactly the borrowers of (or against) each asset
    pool = lab.addresses["pool"]
    assert sorted(exposed_wallets(CHAIN, weth, lab.settings)) == sorted((pool, u) for u in (a, b, c))
    assert sorted(exposed_wallets(CHAIN, usdc, lab.settings)) == sorted((pool, u) for u in (a, b, c, d))
    assert exposed_wallets(CHAIN, kith, lab.settings) == [(pool, d)]

    # When WETH falls to $2500 (B 1.47 and C 1.29 cross into warn)
    REQUESTS.reset()
    health_module.RPC.reset()
    lab.set_price("weth", 2500)
    _, batch = _ingest_only(lab)
    reads_before = REQUESTS.counts.copy()
    moved = lab.deliver(batch)

    # Then exactly the three WETH borrowers are evaluated, in one JSON-RPC batch, found by one Query
    assert moved.price_updates == 1 and moved.evaluations == 3
    assert health_module.RPC.counts == {"http_requests": 1, "eth_calls": 3}
    spent = REQUESTS.counts - reads_before
    assert spent["dynamodb:Query"] >= 1 and "dynamodb:Scan" not in spent
    lab.assert_matches_pool(a, b, c)
    assert lab.record(d).block < lab.record(a).block  # D holds no WETH: untouched
    assert lab.alerts(b) == [(1, "warn", "enqueued")] and lab.alerts(c) == [(1, "warn", "enqueued")]
    assert lab.alerts(a) == []

    # When the same stream batch is delivered again
    again = lab.deliver(batch)

    # Then nothing is alerted twice: the evaluations are stale
    assert again.recorded.alerts == 0 and again.recorded.stale == 3
    assert lab.alerts(b) == [(1, "warn", "enqueued")]

    # When WETH falls to $2000 (B urgent 1.18, C critical 1.03), bounces to $2400 (both warn) and falls back
    for price in (2000, 2400, 2000):
        lab.set_price("weth", price)
        lab.step()
        lab.assert_matches_pool(a, b, c)

    # Then each band alerted once: falling back into a latched band does not alert again
    assert lab.alerts(b) == [(1, "warn", "enqueued"), (2, "urgent", "enqueued")]
    assert lab.alerts(c) == [(1, "warn", "enqueued"), (2, "critical", "enqueued")]

    # When WETH recovers to $3000 (all safe: the latches re-arm) and, two hours later, falls to $2500
    lab.set_price("weth", 3000)
    lab.step()
    assert {lab.record(u).band for u in (a, b, c)} == {"safe"}
    lab.w3.provider.make_request("evm_increaseTime", [7200])  # type: ignore[arg-type]
    lab.set_price("weth", 2500)
    lab.step()

    # Then the new crossing alerts again, with the next sequence number
    assert lab.alerts(b)[-1] == (3, "warn", "enqueued") and lab.alerts(c)[-1] == (3, "warn", "enqueued")

    # When WETH crashes to $1500 and C is liquidated
    lab.set_price("weth", 1500)
    lab.step()
    liquidated_at = lab.act(lab.owner, "liquidationCall", weth, usdc, c, 800 * USDC, False)
    lab.step()

    # Then C is marked liquidated (position, view, label) and its health is the pool's after the liquidation
    assert lab.alerts(c)[-1] == (4, "critical", "enqueued")
    (position,) = load_positions(c, lab.settings)
    assert position.liquidated_at is not None and lab.record(c).block == liquidated_at
    lab.assert_matches_pool(c)
    view = lending_view(c, lab.settings)
    assert view is not None and view.liquidated and view.liquidated_at == position.liquidated_at
    assert view.positions[0].band == lab.record(c).band
    state = client("dynamodb").get_item(
        TableName=lab.settings.app_table, Key={"pk": {"S": f"WALLET#{c}"}, "sk": {"S": "STATE"}}
    )["Item"]
    assert "liquidated" in json.loads(state["doc"]["S"])["labels"]
    # and the lender's own records never alerted twice for one crossing
    for user in (a, b, c, d):
        seqs = [seq for seq, _, _ in lab.alerts(user)]
        assert seqs == sorted(set(seqs))


def _ingest_only(lab: Lab) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from shared.ingest import ingest_chain

    ingest_chain(lab.config, lab.settings, fast_options())
    everything, batch = lab.stream.read()
    apply_profiles(((r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in everything), lab.settings)
    return everything, batch


def test_the_handler_sees_only_pool_and_oracle_records_and_rates_give_refinancing_hints(lab: Lab) -> None:
    # Given a borrower of USDC, and USDC's rate raised well above the same asset's rate in a second pool
    a = lab.users[0]
    weth, usdc = lab.addresses["weth"], lab.addresses["usdc"]
    lab.act(a, "supply", weth, WETH, a, 0)
    lab.act(a, "borrow", usdc, 500 * USDC, 2, 0, a)
    transact(lab.w3, lab.pool, "setReserveRates", usdc, 2 * 10**25, 9 * 10**25, sender=lab.owner)
    token = lab.w3.eth.contract(address=Web3.to_checksum_address(weth), abi=load_artifacts()["KithToken"].abi)
    transact(lab.w3, token, "mint", a, WETH, sender=lab.owner)  # an ERC-20 transfer the health function never sees
    everything, batch = _ingest_only(lab)
    assert 0 < len(batch) < len(everything)  # token transfers are filtered out
    # a cheaper USDC market elsewhere (a second pool's rate, as its ReserveDataUpdated would store it)
    from shared.lending.store import store_rate

    store_rate(_reserve_update(CHAIN + 1, "0x" + "77" * 20, "0x" + "66" * 20, 4 * 10**25), "USDC", lab.settings)

    # When the batch goes through the handler as Lambda would invoke it
    handler = _load_handler()
    result = handler.lambda_handler({"Records": batch}, _Context())

    # Then it succeeds, stores A's health, and the view hints at the cheaper market
    assert result == {"batchItemFailures": []}
    lab.assert_matches_pool(a)
    view = lending_view(a, lab.settings)
    assert view is not None
    (hint,) = view.refinancing
    assert hint.name == "USDC" and hint.your_rate == pytest.approx(0.09) and hint.best_rate == pytest.approx(0.04)
    assert hint.best_chain_id == CHAIN + 1 and view.worst_band == "safe" and view.loyalty.tier


def test_a_rollback_reverses_the_position_once_and_an_older_evaluation_never_overwrites(lab: Lab) -> None:
    # Given a borrower whose position is stored
    a = lab.users[0]
    weth, usdc = lab.addresses["weth"], lab.addresses["usdc"]
    lab.act(a, "supply", weth, WETH, a, 0)
    lab.act(a, "borrow", usdc, 500 * USDC, 2, 0, a)
    lab.step()
    (borrow,) = [r for r in lab.last_batch if r["dynamodb"]["NewImage"].get("action") == {"S": "borrow"}]
    image = borrow["dynamodb"]["NewImage"]
    lab.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    head = lab.w3.eth.block_number

    # When the borrow's rollback (a REMOVE record, as a reorg writes it) arrives, twice
    removed = {"eventName": "REMOVE", "dynamodb": {"OldImage": image}}
    first, second = lab.deliver([removed]), lab.deliver([removed])

    # Then the debt is taken back once, the wallet leaves the exposure index, and it is re-evaluated at the head
    assert (first.positions_applied, second.positions_applied) == (1, 0)
    (position,) = load_positions(a, lab.settings)
    assert position.debt_assets == [] and exposed_wallets(CHAIN, weth, lab.settings) == []
    assert lab.record(a).block == head

    # When the borrow is delivered again (re-ingested), at its own, older block
    again = lab.deliver([borrow])

    # Then the position and index come back, but the newer health record stays
    assert again.positions_applied == 1 and again.recorded.stale == 1
    assert load_positions(a, lab.settings)[0].debt_assets == [usdc]
    assert exposed_wallets(CHAIN, weth, lab.settings) == [(lab.addresses["pool"], a)]
    assert lab.record(a).block == head


def test_alerts_recorded_before_a_crash_are_fired_by_the_redelivery(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a borrower at HF 1.55 whose alert is recorded, but the function dies before calling the trigger
    b = lab.users[1]
    lab.act(b, "supply", lab.addresses["weth"], WETH, b, 0)
    lab.act(b, "borrow", lab.addresses["usdc"], 1600 * USDC, 2, 0, b)
    lab.step()
    lab.set_price("weth", 2500)
    _, batch = _ingest_only(lab)
    real_fire = health_module._fire

    def crash(*_: Any) -> None:
        raise RuntimeError("the function timed out")

    monkeypatch.setattr(health_module, "_fire", crash)
    with pytest.raises(RuntimeError, match="timed out"):
        lab.deliver(batch)
    assert lab.alerts(b) == [(1, "warn", "pending")]

    # When the stream redelivers the batch to a healthy function
    monkeypatch.setattr(health_module, "_fire", real_fire)
    again = lab.deliver(batch)

    # Then the evaluation is stale, yet the pending alert is fired, once
    assert again.recorded.stale == 1 and again.recorded.fired == 1
    assert lab.alerts(b) == [(1, "warn", "enqueued")] and lab.record(b).pending == []
    assert lab.deliver(batch).recorded.fired == 0


def _reserve_update(chain_id: int, pool: str, asset: str, variable: int) -> Any:
    from shared.events import ZERO_ADDRESS, LendingEvent, Standard

    return LendingEvent(
        chain_id=chain_id,
        block_number=5,
        block_hash="0x" + "ab" * 32,
        block_time=1_700_000_000,
        tx_hash="0x" + "cd" * 32,
        log_index=0,
        contract=pool,
        standard=Standard.LENDING_POOL,
        action="reserve_data_updated",
        reserve=asset,
        user=ZERO_ADDRESS,
        variable_borrow_rate=variable,
    )


class _Context:
    function_name = "HealthFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:HealthFunction"
    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _load_handler() -> Any:
    spec = importlib.util.spec_from_file_location(
        "kith_test_health_handler", ROOT / "functions" / "health" / "handler.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_block_whose_state_the_node_does_not_have_is_read_at_the_head(lab: Lab) -> None:
    # Given a borrower, and an evaluation asked at a block the node cannot serve state for
    a = lab.users[0]
    weth, usdc = lab.addresses["weth"], lab.addresses["usdc"]
    lab.act(a, "supply", weth, WETH, a, 0)
    lab.act(a, "borrow", usdc, 1000 * USDC, 2, 0, a)
    lab.step()
    head_block, head_time = health_module.head(CHAIN, lab.settings)
    pool = lab.addresses["pool"]
    unavailable = health_module.Request(head_block + 10_000, CHAIN, pool, a, head_time)
    # When it is read
    [(asked, account)] = health_module.read_accounts([unavailable], lab.settings)
    # Then the node's head answered, and the answer says which block it is for
    [(_, at_head)] = health_module.read_accounts(
        [health_module.Request(head_block, CHAIN, pool, a, head_time)], lab.settings
    )
    assert asked.block == head_block and account == at_head
