"""Tracked chains and contracts, as data in the App table (key shapes A46-A50 in shared.store.keys).

A chain's settings (its RPC parameter name, confirmations, ranges) and each tracked contract are items
in the chain's own partition, beside its cursor, so one Query reads a chain whole and the scheduled
ingest picks up a contract added a second ago on its next run. None of it lives in a function's
environment any more: Lambda caps that at 4 KB, about 30 contracts' worth.

Contracts come and go through `GET/POST/DELETE /chains/{chain_id}/contracts` and `python -m shared.cli
contracts`. Adding one to a chain that is already being ingested backfills it from its start block to
the chain's confirmed head, through the backfill queue, for that contract alone; the live ingest takes
it from there. Removing one stops ingesting it; its events already stored stay.

A chain with `every_token` reads every ERC-20/721/1155 Transfer on it, from any contract, and tracks no
contract list: adding contracts to it, or setting it on a chain that tracks some, is refused. A chain
with neither waits. The chain's `start_block` is where its first ingest run starts (no ingest run or
contract backfill reads below it); once a cursor exists it alone decides, so changing `start_block` later moves
no cursor either way, and older blocks are read with a backfill.

The ChainsConfig template parameter (an SSM parameter named by KITH_CHAINS_SEED_PARAMETER) and
KITH_CHAINS (local runs and tests) only seed the table: a seed is applied once per distinct content,
it sets the settings of the chains it names and adds the contracts that are not tracked yet. The RPC
URL stays in its SecureString parameter (`rpc_url_parameter`); only the local cloud gives `rpc_url`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from shared.chain.jobs import BackfillError, confirmed_target, open_backfill
from shared.settings import EVERY_TOKEN_WITH_CONTRACTS, ChainConfig, ConfigError, Settings, TrackedContract
from shared.store.dynamo import batch_get, batch_write, client, from_item, to_item
from shared.store.keys import (
    CHAIN_CONFIG_SK,
    CHAIN_ITEMS_RANGE,
    CHAINS_PARTITION,
    CONTRACT_PREFIX,
    GSI1,
    chain_config_key,
    chain_list_gsi,
    chain_pk,
    chains_seed_key,
    cursor_key,
    tracked_contract_key,
)
from shared.store.paging import query_items

logger = logging.getLogger("kith.tracking")

MAX_CONTRACTS_PER_REQUEST = 500
# ranges per contract backfill: the span is cut into at most this many SQS range jobs
MAX_BACKFILL_RANGES = 10_000
MIN_BACKFILL_RANGE = 2000
# how long a function may reuse a chain it read (backfill and health workers; ingest always reads afresh)
CHAIN_CACHE_S = 60.0
SEED_PARAMETER_CACHE_S = 300.0
# every ChainConfig field but chain_id and contracts: a chain's CONFIG item holds these
_CHAIN_SETTINGS = tuple(f for f in ChainConfig.model_fields if f not in ("chain_id", "contracts"))


class TrackingError(ValueError):
    """Bad input for tracking; `field` names what to fix."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ChainNotTracked(ConfigError):
    """The chain has no settings in the App table (nor in a seed)."""


@dataclass
class TrackOutcome:
    chain_id: int
    added: list[TrackedContract] = field(default_factory=list)
    already_tracked: list[str] = field(default_factory=list)
    backfill_job: str | None = None
    # why no backfill was needed, when none was started
    note: str = ""


# ---- items ------------------------------------------------------------------------------------


def _chain_item(chain: ChainConfig) -> dict[str, Any]:
    values = chain.model_dump(mode="json", include=set(_CHAIN_SETTINGS))
    return {
        **chain_config_key(chain.chain_id),
        **chain_list_gsi(chain.chain_id),
        "chain_id": chain.chain_id,
        **values,
        "updated_at": int(time.time()),
    }


def _contract_item(chain_id: int, contract: TrackedContract, backfill_job: str | None = None) -> dict[str, Any]:
    return {
        **tracked_contract_key(chain_id, contract.address),
        "chain_id": chain_id,
        **contract.model_dump(mode="json"),
        "added_at": int(time.time()),
        "backfill_job": backfill_job,
    }


def _contract_of(values: dict[str, Any]) -> TrackedContract:
    return TrackedContract(
        address=values["address"],
        standard=values["standard"],
        start_block=int(values.get("start_block", 0)),
        label=str(values.get("label", "")),
        underlying=values.get("underlying") or None,
        fee_recipients=[str(recipient) for recipient in values.get("fee_recipients") or []],
    )


def _chain_of(config: dict[str, Any], contracts: list[TrackedContract]) -> ChainConfig:
    settings = {k: config[k] for k in _CHAIN_SETTINGS if config.get(k) is not None}
    return ChainConfig(chain_id=int(config["chain_id"]), contracts=contracts, **settings)


# ---- reading ----------------------------------------------------------------------------------


def _is_chain_config(sk: str) -> bool:
    return sk == CHAIN_CONFIG_SK


def _is_contract(sk: str) -> bool:
    return sk.startswith(CONTRACT_PREFIX)


def _chain_items(app_table: str, chain_id: int, consistent: bool = True) -> list[dict[str, Any]]:
    low, high = CHAIN_ITEMS_RANGE
    return list(
        query_items(
            app_table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues=to_item({":pk": chain_pk(chain_id), ":low": low, ":high": high}),
            ConsistentRead=consistent,
        )
    )


def load_chain(app_table: str, chain_id: int) -> ChainConfig | None:
    """The chain's settings and every contract tracked on it, or None if the chain is not tracked."""
    items = _chain_items(app_table, chain_id)
    config = next((i for i in items if _is_chain_config(str(i["sk"]))), None)
    if config is None:
        return None
    contracts = [_contract_of(i) for i in items if _is_contract(str(i["sk"]))]
    return _chain_of(config, sorted(contracts, key=lambda c: c.address))


def tracked_chain_ids(app_table: str) -> list[int]:
    items = query_items(
        app_table,
        IndexName=GSI1,
        KeyConditionExpression="gsi1pk = :pk",
        ExpressionAttributeValues=to_item({":pk": CHAINS_PARTITION}),
        ProjectionExpression="chain_id",
    )
    return [int(item["chain_id"]) for item in items]


def load_chains(app_table: str) -> list[ChainConfig]:
    chains = [load_chain(app_table, chain_id) for chain_id in tracked_chain_ids(app_table)]
    return [c for c in chains if c is not None]


# ---- seeding ----------------------------------------------------------------------------------

_SEEDED: set[tuple[str, str]] = set()
_SEED_PARAMETER: dict[str, tuple[float, str]] = {}
_LOCK = threading.Lock()


class _Seeding(threading.local):
    active = False


_SEEDING = _Seeding()


# chain settings a seed's digest leaves out while they hold their default: a seed that does not use them keeps
# the digest it had without them, and is not applied again (which would re-track contracts removed since)
_DIGEST_OMITS_AT_DEFAULT = ("every_token", "start_block")


def _seed_form(chain: ChainConfig) -> dict[str, Any]:
    values = chain.model_dump(mode="json")
    for name in _DIGEST_OMITS_AT_DEFAULT:
        if values[name] == ChainConfig.model_fields[name].default:
            del values[name]
    return values


def seed_digest(chains: list[ChainConfig]) -> str:
    canonical = json.dumps([_seed_form(c) for c in chains], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _seed_parameter_chains(name: str) -> list[ChainConfig]:
    """The chains in the seed's SSM parameter (the ChainsConfig template parameter), read every few minutes."""
    now = time.monotonic()
    with _LOCK:
        cached = _SEED_PARAMETER.get(name)
    if cached is None or now - cached[0] > SEED_PARAMETER_CACHE_S:
        value = str(client("ssm").get_parameter(Name=name)["Parameter"]["Value"])
        cached = (now, value)
        with _LOCK:
            _SEED_PARAMETER[name] = cached
    try:
        return [ChainConfig.model_validate(c) for c in json.loads(cached[1])]
    except (json.JSONDecodeError, ValidationError, TypeError) as exc:
        raise ConfigError(f"the chains seed in SSM parameter {name} is not a valid ChainsConfig: {exc}") from exc


def seed_chains(settings: Settings) -> bool:
    """Apply the seed (KITH_CHAINS, then the seed parameter) unless this very seed was applied before.

    Returns True when it was applied now. A seed sets the settings of the chains it names and tracks
    their contracts that are not tracked yet (backfilling them if their chain is already ingested); it
    never removes a contract, so one removed through the API stays removed until the seed changes.
    """
    if _SEEDING.active or not settings.app_table:
        return False  # the seed's own writes (they read the chain back) must not start it again
    chains = list(settings.chains)
    if settings.chains_seed_parameter:
        chains += _seed_parameter_chains(settings.chains_seed_parameter)
    if not chains:
        return False
    digest = seed_digest(chains)
    with _LOCK:
        if (settings.app_table, digest) in _SEEDED:
            return False
    dynamodb = client("dynamodb")
    marker = dynamodb.get_item(TableName=settings.app_table, Key=to_item(chains_seed_key()), ConsistentRead=True)
    applied = from_item(marker.get("Item", {})).get("digest") != digest
    if applied:
        _SEEDING.active = True
        try:
            for chain in chains:
                try:
                    put_chain(settings.app_table, chain)
                except TrackingError as exc:
                    raise ConfigError(f"the chains seed cannot be applied to chain {chain.chain_id}: {exc}") from exc
                if chain.contracts:
                    # without a backfill queue (a test's bare settings) a seeded contract is tracked from now on
                    _track(settings, chain, chain.contracts, backfill=bool(settings.backfill_queue_url))
        finally:
            _SEEDING.active = False
        item = {**chains_seed_key(), "digest": digest, "chains": [c.chain_id for c in chains]}
        dynamodb.put_item(TableName=settings.app_table, Item=to_item({**item, "applied_at": int(time.time())}))
        logger.info("applied the chains seed %s to %s chains", digest[:12], len(chains))
    with _LOCK:
        _SEEDED.add((settings.app_table, digest))
    return applied


def tracked_chains(settings: Settings) -> list[ChainConfig]:
    """Every tracked chain with its contracts, read afresh (the scheduled ingest calls this every run)."""
    if not settings.app_table:
        return list(settings.chains)  # no table to keep them in (unit tests): the configured chains as given
    seed_chains(settings)
    return load_chains(settings.app_table)


_CHAIN_CACHE: dict[tuple[str, int], tuple[float, ChainConfig]] = {}


def tracked_chain(settings: Settings, chain_id: int, max_age_s: float = 0.0) -> ChainConfig:
    """One tracked chain; a reader that tolerates a slightly stale view passes `max_age_s`."""
    if not settings.app_table:
        return settings.chain(chain_id)
    key = (settings.app_table, chain_id)
    now = time.monotonic()
    if max_age_s > 0:
        with _LOCK:
            cached = _CHAIN_CACHE.get(key)
        if cached is not None and now - cached[0] <= max_age_s:
            return cached[1]
    seed_chains(settings)
    chain = load_chain(settings.app_table, chain_id)
    if chain is None:
        raise ChainNotTracked(
            f"chain {chain_id} is not tracked: add it to the ChainsConfig parameter (or KITH_CHAINS locally), "
            "or with `python -m shared.cli chains add`"
        )
    with _LOCK:
        _CHAIN_CACHE[key] = (now, chain)
    return chain


def forget_cached() -> None:
    """Drop every per-process cache (tests that rebuild tables call this)."""
    with _LOCK:
        _CHAIN_CACHE.clear()
        _SEEDED.clear()
        _SEED_PARAMETER.clear()


# ---- writing ----------------------------------------------------------------------------------


def put_chain(app_table: str, chain: ChainConfig) -> None:
    """Create a chain or replace its settings; its contracts and cursor are untouched.

    A changed `start_block` moves no cursor: it places the first one only (docs/architecture.md, "Ingestion").
    """
    if chain.every_token:
        tracked = [i for i in _chain_items(app_table, chain.chain_id) if _is_contract(str(i["sk"]))]
        if tracked:
            raise TrackingError(
                f"chain {chain.chain_id} tracks {len(tracked)} contracts: {EVERY_TOKEN_WITH_CONTRACTS}", "every_token"
            )
    client("dynamodb").put_item(TableName=app_table, Item=to_item(_chain_item(chain)))
    with _LOCK:
        _CHAIN_CACHE.pop((app_table, chain.chain_id), None)


def ingested_through(app_table: str, chain_id: int) -> int | None:
    """The last block the chain's cursor has ingested, or None before its first run."""
    cursor = client("dynamodb").get_item(TableName=app_table, Key=to_item(cursor_key(chain_id)), ConsistentRead=True)
    last_block = from_item(cursor.get("Item", {})).get("last_block")
    return None if last_block is None else int(last_block)


def list_contracts(settings: Settings, chain_id: int) -> list[dict[str, Any]]:
    """The chain's contract items as stored (with added_at and the backfill job that brought them in)."""
    tracked_chain(settings, chain_id)  # raises ChainNotTracked
    items = _chain_items(settings.app_table, chain_id)
    contracts = [i for i in items if _is_contract(str(i["sk"]))]
    return sorted(contracts, key=lambda i: str(i["address"]))


def track_contracts(
    settings: Settings, chain_id: int, contracts: list[TrackedContract], range_size: int | None = None
) -> TrackOutcome:
    """Track `contracts` on a tracked chain; backfill the new ones if the chain is already being ingested.

    The contract items are written before the backfill's end block is read: an ingest run that started
    before the write (and so ignores the new contracts) stops at a head no later than that block, and
    every run that starts after it reads them.
    """
    if not contracts:
        raise TrackingError("give at least one contract", "contracts")
    if len(contracts) > MAX_CONTRACTS_PER_REQUEST:
        raise TrackingError(f"at most {MAX_CONTRACTS_PER_REQUEST} contracts a request", "contracts")
    if len({c.address for c in contracts}) != len(contracts):
        raise TrackingError("a contract address appears twice", "contracts")
    chain = tracked_chain(settings, chain_id)
    if chain.every_token:
        raise TrackingError(f"chain {chain_id} has every_token set: {EVERY_TOKEN_WITH_CONTRACTS}", "contracts")
    return _track(settings, chain, contracts, range_size)


def _track(
    settings: Settings,
    chain: ChainConfig,
    contracts: list[TrackedContract],
    range_size: int | None = None,
    backfill: bool = True,
) -> TrackOutcome:
    chain_id = chain.chain_id
    unique = {c.address: c for c in contracts}
    outcome = TrackOutcome(chain_id)
    keys = [to_item(tracked_contract_key(chain_id, a)) for a in unique]
    existing = {from_item(i)["address"] for i in batch_get(settings.app_table, keys)}
    outcome.already_tracked = sorted(existing)
    outcome.added = [c for a, c in sorted(unique.items()) if a not in existing]
    if not outcome.added:
        return outcome
    cursor = client("dynamodb").get_item(TableName=settings.app_table, Key=to_item(cursor_key(chain_id)))
    last_block = from_item(cursor.get("Item", {})).get("last_block")
    if last_block is None or not backfill:
        batch_write(settings.app_table, puts=[to_item(_contract_item(chain_id, c)) for c in outcome.added])
        if last_block is None:
            outcome.note = f"chain {chain_id} is not ingested yet: its first run starts at the earliest start block"
        else:
            outcome.note = f"tracked from block {last_block + 1} on: no backfill queue to read the history with"
            logger.warning("chain %s: %s contracts %s", chain_id, len(outcome.added), outcome.note)
        return outcome
    job_id = _new_job_id()
    batch_write(settings.app_table, puts=[to_item(_contract_item(chain_id, c, job_id)) for c in outcome.added])
    with _LOCK:
        _CHAIN_CACHE.pop((settings.app_table, chain_id), None)
    reading = chain.model_copy(update={"contracts": outcome.added})
    target = confirmed_target(settings, reading)
    first = max(chain.start_block, min(c.start_block for c in outcome.added))
    if first > target:
        outcome.note = f"every new contract starts after the confirmed head ({target}): the live ingest reads it"
        return outcome
    span = target - first + 1
    size = range_size or max(MIN_BACKFILL_RANGE, math.ceil(span / MAX_BACKFILL_RANGES))
    try:
        open_backfill(settings, chain, first, target, size, job_id=job_id, contracts=outcome.added)
    except BackfillError as exc:
        raise TrackingError(str(exc), "contracts") from exc
    outcome.backfill_job = job_id
    return outcome


def untrack_contract(settings: Settings, chain_id: int, address: str) -> dict[str, Any] | None:
    """Stop ingesting a contract; returns its item, or None if it was not tracked. Stored events stay."""
    answer = client("dynamodb").delete_item(
        TableName=settings.app_table,
        Key=to_item(tracked_contract_key(chain_id, address)),
        ReturnValues="ALL_OLD",
    )
    with _LOCK:
        _CHAIN_CACHE.pop((settings.app_table, chain_id), None)
    old = answer.get("Attributes")
    return from_item(old) if old else None


def _new_job_id() -> str:
    return uuid.uuid4().hex[:12]
