"""Configuration, validated once when a function starts.

Every function reads its environment through these pydantic models, so a missing or malformed
variable fails at cold start with the variable's name, not deep inside a request.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from shared.events import Standard


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it and says how to fix it."""


class TrackedContract(BaseModel):
    address: str
    standard: Standard
    start_block: int = 0
    label: str = ""
    # erc4626-vault and staking: the token the contract holds, so a stake can count as holding it
    underlying: str | None = None
    # A Seaport contract's marketplace fee recipients: a consideration item paid to one of them is the
    # fee; one paid to anyone but the seller and them is the royalty (docs/architecture.md, "NFT markets").
    fee_recipients: list[str] = Field(default_factory=list)

    @field_validator("fee_recipients")
    @classmethod
    def _lower_recipients(cls, value: list[str]) -> list[str]:
        for recipient in value:
            if not (recipient.startswith("0x") and len(recipient) == 42):
                raise ValueError("each fee recipient must be a 0x-prefixed 20-byte hex address")
            int(recipient, 16)
        return [recipient.lower() for recipient in value]

    @field_validator("address", "underlying")
    @classmethod
    def _lower_hex_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not (value.startswith("0x") and len(value) == 42):
            raise ValueError("must be a 0x-prefixed 20-byte hex address")
        int(value, 16)
        return value.lower()


EVERY_TOKEN_WITH_CONTRACTS = (
    "every_token reads every token's Transfer logs on the chain, from any contract, so it cannot be combined "
    "with a contract list: remove the contracts, or leave every_token false"
)


class ChainConfig(BaseModel):
    chain_id: int
    name: str = ""
    # Locally the URL itself; in AWS the name of an SSM parameter holding it (rpc_url_parameter).
    rpc_url: str = ""
    rpc_url_parameter: str = ""
    contracts: list[TrackedContract] = Field(default_factory=list)
    # every ERC-20/721/1155 Transfer on the chain, from any contract; explicit, because an empty contract
    # list means "nothing to read yet" (docs/architecture.md, "Ingestion")
    every_token: bool = False
    # no ingest run or contract backfill reads below it; it places the chain's first cursor, never a later one
    start_block: int = Field(default=0, ge=0, le=2**63 - 1)
    confirmations: int = Field(default=0, ge=0)
    use_finalized_tag: bool = False
    max_range: int = Field(default=2000, ge=1)
    initial_range: int = Field(default=500, ge=1)
    reorg_window: int = Field(default=64, ge=2, le=256)

    @model_validator(mode="after")
    def _needs_an_rpc(self) -> ChainConfig:
        if not self.rpc_url and not self.rpc_url_parameter:
            raise ValueError(f"chain {self.chain_id}: set rpc_url (local) or rpc_url_parameter (SSM name)")
        return self

    @model_validator(mode="after")
    def _every_token_or_a_contract_list(self) -> ChainConfig:
        if self.every_token and self.contracts:
            raise ValueError(EVERY_TOKEN_WITH_CONTRACTS)
        return self

    @property
    def first_block(self) -> int:
        """The block the chain's first ingest run starts at: the start block, or the earliest tracked
        contract's start block when that is later."""
        if self.every_token:
            return self.start_block
        return max(self.start_block, min((c.start_block for c in self.contracts), default=0))


class ScoreSettings(BaseModel):
    """Engagement score defaults (docs/architecture.md, "Profiles, scores and rules").

    The formula lives in shared.scoring.
    """

    version: int = 1
    half_life_days_activity: float = 30.0
    half_life_days_governance: float = 90.0
    weight_transfer: float = 1.0
    weight_nft: float = 2.0
    weight_vote: float = 5.0
    weight_lending: float = 2.0


class LabelSettings(BaseModel):
    whale_top_fraction: float = 0.01
    whale_supply_share: float = 0.01
    diamond_hands_days: int = 155
    new_holder_days: int = 7
    collector_min_nfts: int = 5
    # a flipper sold an NFT within this many days of buying or minting it
    flipper_days: int = Field(default=7, gt=0)
    dormant_days: int = 30
    # staker: a stake of at least this many base units of its underlying token (0: any positive stake)
    staker_min_balance: int = Field(default=0, ge=0)
    at_risk_p_alive: float = 0.5
    # H of the churn risk, P(no activity in the next H days); the nightly refit fits and backtests for it
    churn_horizon_days: int = Field(default=30, gt=0)


# ---- lending and loyalty -----------------------------------------------------------


class LendingSettings(BaseModel):
    """Health-factor bands, alerting and refinancing (KITH_LENDING, JSON).

    Bands: safe >= warn_below; warn < warn_below; urgent < urgent_below; critical < critical_below.
    """

    warn_below: float = Field(default=1.5, gt=0)
    urgent_below: float = Field(default=1.2, gt=0)
    critical_below: float = Field(default=1.05, gt=0)
    # at most one alert per wallet in this many seconds (chain time), unless the band is worse than the last alert's
    alert_min_interval_s: int = Field(default=6 * 3600, ge=0)
    # borrowers paying more than the best variable rate for their asset plus this margin get a hint
    refinance_margin: float = Field(default=0.01, ge=0)  # absolute APR, 0.01 = one percentage point
    # "<chain>:<asset address>" -> a name shared across chains and pools; else the token's symbol matches them
    asset_aliases: dict[str, str] = Field(default_factory=dict)
    eth_call_batch: int = Field(default=100, ge=1, le=1000)

    @model_validator(mode="after")
    def _ordered_bands(self) -> LendingSettings:
        if not self.warn_below > self.urgent_below > self.critical_below:
            raise ValueError("band thresholds must satisfy warn_below > urgent_below > critical_below")
        return self

    @field_validator("asset_aliases")
    @classmethod
    def _lower_keys(cls, value: dict[str, str]) -> dict[str, str]:
        return {k.lower(): v for k, v in value.items()}


class LoyaltyTier(BaseModel):
    name: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")
    min_points: float = Field(ge=0)


def _default_tiers() -> list[LoyaltyTier]:
    return [
        LoyaltyTier(name="bronze", min_points=0),
        LoyaltyTier(name="silver", min_points=100),
        LoyaltyTier(name="gold", min_points=300),
        LoyaltyTier(name="platinum", min_points=600),
    ]


class LoyaltySettings(BaseModel):
    """The loyalty formula and tiers (KITH_LOYALTY, JSON). Bump `version` whenever a weight or tier
    changes: each stored tier names the version that produced it. The formula lives in shared.loyalty."""

    version: int = Field(default=1, ge=1)
    points_per_held_day: float = Field(default=0.5, ge=0)
    max_held_days: int = Field(default=365, ge=0)
    points_per_volume_decade: float = Field(default=20.0, ge=0)  # per power of ten of token volume
    points_per_vote: float = Field(default=10.0, ge=0)
    max_votes: int = Field(default=30, ge=0)
    points_per_disciplined_repay: float = Field(default=15.0, ge=0)
    max_disciplined_repays: int = Field(default=20, ge=0)
    never_liquidated_bonus: float = Field(default=50.0, ge=0)  # for borrowers only
    tiers: list[LoyaltyTier] = Field(default_factory=_default_tiers, min_length=1)

    @model_validator(mode="after")
    def _tiers_ascend_from_zero(self) -> LoyaltySettings:
        floors = [t.min_points for t in self.tiers]
        if floors[0] != 0 or floors != sorted(set(floors)) or len({t.name for t in self.tiers}) != len(self.tiers):
            raise ValueError("tiers need unique names and strictly ascending min_points, the first at 0")
        return self


class CampaignSettings(BaseModel):
    """Marketing pressure limits (KITH_CAMPAIGNS, JSON). Transactional alerts ignore the cap."""

    frequency_cap: int = Field(default=3, ge=1, description="messages per wallet per window, across campaigns")
    frequency_window_days: float = Field(default=7, gt=0)
    sends_max_receive_count: int = Field(default=4, ge=1, description="the sends queue's maxReceiveCount")


class SegmentSettings(BaseModel):
    """How membership follows the chain while Kith replays history (KITH_SEGMENTS, JSON; docs/architecture.md,
    "History replay")."""

    history_horizon_s: int = Field(
        default=3600,
        ge=60,
        description="a profile whose newest event is older than this is being replayed, not lived",
    )
    replay_quiet_s: int = Field(
        default=15,
        ge=1,
        le=900,
        description="seconds without a replayed change before the wallets replayed are evaluated once",
    )


class ApiSettings(BaseModel):
    """Per-key throttles (KITH_API, JSON). Each request costs 1 unit, expensive routes more (shared.api.limits)."""

    units_per_minute: int = Field(default=600, ge=1, description="what one key may spend per minute")


class Settings(BaseModel):
    events_table: str = ""
    app_table: str = ""
    backfill_queue_url: str = ""
    segment_eval_queue_url: str = ""
    sends_queue_url: str = ""
    dispatch_queue_url: str = ""
    event_bus_name: str = ""
    # chains to seed the App table with (shared.tracking); in AWS they come from chains_seed_parameter
    chains: list[ChainConfig] = Field(default_factory=list)
    chains_seed_parameter: str = ""
    score: ScoreSettings = Field(default_factory=ScoreSettings)
    labels: LabelSettings = Field(default_factory=LabelSettings)
    lending: LendingSettings = Field(default_factory=LendingSettings)
    loyalty: LoyaltySettings = Field(default_factory=LoyaltySettings)
    campaigns: CampaignSettings = Field(default_factory=CampaignSettings)
    segments: SegmentSettings = Field(default_factory=SegmentSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    import_queue_url: str = ""
    # the SSM parameter (SecureString) holding the identity hash key; outside the table on purpose
    identity_key_parameter: str = "/kith/identity-hash-key"

    def chain(self, chain_id: int) -> ChainConfig:
        for chain in self.chains:
            if chain.chain_id == chain_id:
                return chain
        raise ConfigError(f"chain {chain_id} is not configured: add it to KITH_CHAINS")


_ENV_FIELDS = {
    "events_table": "EVENTS_TABLE",
    "app_table": "APP_TABLE",
    "backfill_queue_url": "BACKFILL_QUEUE_URL",
    "segment_eval_queue_url": "SEGMENT_EVAL_QUEUE_URL",
    "sends_queue_url": "SENDS_QUEUE_URL",
    "dispatch_queue_url": "DISPATCH_QUEUE_URL",
    "event_bus_name": "EVENT_BUS_NAME",
    "import_queue_url": "IMPORT_QUEUE_URL",
    "identity_key_parameter": "IDENTITY_KEY_PARAMETER",
    "chains_seed_parameter": "KITH_CHAINS_SEED_PARAMETER",
}
_JSON_FIELDS = {
    "campaigns": "KITH_CAMPAIGNS",
    "segments": "KITH_SEGMENTS",
    "chains": "KITH_CHAINS",
    "score": "KITH_SCORE",
    "labels": "KITH_LABELS",
    "lending": "KITH_LENDING",
    "loyalty": "KITH_LOYALTY",
    "api": "KITH_API",
}


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    raw: dict[str, Any] = {field: env[var] for field, var in _ENV_FIELDS.items() if env.get(var)}
    for field, var in _JSON_FIELDS.items():
        if env.get(var):
            try:
                raw[field] = json.loads(env[var])
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{var} is not valid JSON ({exc.msg} at char {exc.pos})") from exc
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting {where}: {first['msg']}") from exc


_SETTINGS_VARIABLES = ("AWS_LAMBDA_FUNCTION_NAME", *_ENV_FIELDS.values(), *_JSON_FIELDS.values())


class _SettingsOfEachEnvironment:
    """Settings read once per environment. A Lambda process runs one function; the local cloud runs every
    function side by side in one process, each with its own environment, so the cache is keyed by the
    variables settings are read from."""

    def __init__(self) -> None:
        self._by_environment: dict[tuple[str, ...], Settings] = {}

    def __call__(self) -> Settings:
        # keyed by the variables settings are read from, so two stacks in one process never share them
        key = tuple(os.environ.get(name, "") for name in _SETTINGS_VARIABLES)
        found = self._by_environment.get(key)
        if found is None:
            found = self._by_environment[key] = settings_from_env()
        return found

    def cache_clear(self) -> None:
        """Read the environment again on the next call (tests that change it call this)."""
        self._by_environment.clear()


get_settings = _SettingsOfEachEnvironment()


_WHAT_EACH_NAMES = {
    "events_table": "the Events table's name (the stack output EventsTableName)",
    "app_table": "the App table's name (the stack output AppTableName)",
    "backfill_queue_url": "the backfill queue's URL",
    "segment_eval_queue_url": "the segment-evaluation queue's URL",
    "sends_queue_url": "the campaign sends queue's URL",
    "dispatch_queue_url": "the campaign dispatch queue's URL",
    "event_bus_name": "the event bus's name",
    "import_queue_url": "the contact-import queue's URL",
}


def missing_setting(field: str) -> ConfigError:
    """The error for a required setting left empty: it names the variable and what to set it to."""
    variable = _ENV_FIELDS.get(field, field.upper())
    return ConfigError(f"{variable} is not set: set it to {_WHAT_EACH_NAMES.get(field, 'a value')}")


class Needs:
    """The settings one entry point (a handler, a CLI command) cannot work without.

    Declared once beside the entry point and checked before it does anything, so a function deployed
    without a table or a queue fails on its first invocation with the variable's name, instead of
    deep inside a request with an empty table name.
    """

    def __init__(self, *fields: str) -> None:
        unknown = [f for f in fields if f not in _WHAT_EACH_NAMES]
        if unknown:
            raise ValueError(f"not a required-setting field: {', '.join(unknown)}")
        self.fields = fields

    def check(self, settings: Settings) -> Settings:
        for field in self.fields:
            if not getattr(settings, field):
                raise missing_setting(field)
        return settings

    def settings(self) -> Settings:
        """This environment's settings (read once per environment), with every need present."""
        return self.check(get_settings())
