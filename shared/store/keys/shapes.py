"""The key shapes of the access patterns listed in shared/store/keys/__init__.py: builders only."""

from __future__ import annotations

import hashlib
from typing import Final

PK: Final = "pk"
SK: Final = "sk"
GSI1: Final = "gsi1"
GSI2: Final = "gsi2"
GSI3: Final = "gsi3"

SCORE_SHARDS: Final = 4
DUE_SHARDS: Final = 4
UINT256_DIGITS: Final = 78


def _pad(number: int, width: int) -> str:
    return f"{number:0{width}d}"


# ---- Events table ------------------------------------------------------------------------------


def event_pk(chain_id: int, block_number: int) -> str:
    return f"EVT#{chain_id}#{_pad(block_number, 12)}"


def event_sk(log_index: int, sub_index: int, tx_hash: str) -> str:
    return f"{_pad(log_index, 6)}#{_pad(sub_index, 4)}#{tx_hash.lower()}"


# ---- App table: ingestion ----------------------------------------------------------------------


def chain_pk(chain_id: int) -> str:
    return f"CHAIN#{chain_id}"


def cursor_key(chain_id: int) -> dict[str, str]:
    return {PK: chain_pk(chain_id), SK: "CURSOR"}


CHAIN_CONFIG_SK: Final = "CONFIG"
CONTRACT_PREFIX: Final = "CONTRACT#"
# the sort-key range of a chain's CONFIG and CONTRACT# items: "CONFIG" < "CONTRACT#..." < "CONTRACT$" < "CURSOR"
CHAIN_ITEMS_RANGE: Final = (CHAIN_CONFIG_SK, "CONTRACT$")
CHAINS_PARTITION: Final = "CHAINS"


def chain_config_key(chain_id: int) -> dict[str, str]:
    return {PK: chain_pk(chain_id), SK: CHAIN_CONFIG_SK}


def chain_list_gsi(chain_id: int) -> dict[str, str]:
    return {"gsi1pk": CHAINS_PARTITION, "gsi1sk": _pad(chain_id, 12)}


def tracked_contract_key(chain_id: int, address: str) -> dict[str, str]:
    return {PK: chain_pk(chain_id), SK: f"{CONTRACT_PREFIX}{address.lower()}"}


def chains_seed_key() -> dict[str, str]:
    # not under CONFIG: the ingest role, which applies the seed, is kept out of that partition
    return {PK: CHAINS_PARTITION, SK: "SEED"}


def token_meta_key(chain_id: int, contract: str) -> dict[str, str]:
    return {PK: f"TOKEN#{chain_id}#{contract.lower()}", SK: "META"}


def token_stats_key(chain_id: int, contract: str) -> dict[str, str]:
    return {PK: f"TOKEN#{chain_id}#{contract.lower()}", SK: "STATS"}


def token_partition(chain_id: int, contract: str) -> str:
    return f"TOKEN#{chain_id}#{contract.lower()}"


NFT_DAY_PREFIX = "NFTDAY#"
NFT_SALE_PREFIX = "NFTSALE#"


def nft_day_key(chain_id: int, collection: str, day: int) -> dict[str, str]:
    return {PK: token_partition(chain_id, collection), SK: f"{NFT_DAY_PREFIX}{_pad(day, 6)}"}


def nft_sale_key(chain_id: int, collection: str, day: int, event_id: str) -> dict[str, str]:
    return {PK: token_partition(chain_id, collection), SK: f"{NFT_SALE_PREFIX}{_pad(day, 6)}#{event_id}"}


def nft_stats_key(chain_id: int, collection: str) -> dict[str, str]:
    return {PK: token_partition(chain_id, collection), SK: "NFTSTATS"}


def backfill_status_key(job_id: str) -> dict[str, str]:
    return {PK: f"BACKFILL#{job_id}", SK: "STATUS"}


def backfill_range_key(job_id: str, from_block: int) -> dict[str, str]:
    return {PK: f"BACKFILL#{job_id}", SK: f"RANGE#{_pad(from_block, 12)}"}


# ---- App table: wallets ------------------------------------------------------------------------


def wallet_pk(address: str) -> str:
    return f"WALLET#{address.lower()}"


def profile_key(address: str) -> dict[str, str]:
    return {PK: wallet_pk(address), SK: "PROFILE"}


HOLDING_PREFIX: Final = "HOLD#"
TAG_PREFIX: Final = "TAG#"
ACTIVITY_PREFIX: Final = "ACT#"


def holding_key(address: str, chain_id: int, contract: str) -> dict[str, str]:
    return {PK: wallet_pk(address), SK: f"{HOLDING_PREFIX}{chain_id}#{contract.lower()}"}


def activity_key(address: str, block_time: int, event_id: str, direction: str) -> dict[str, str]:
    # direction keeps a self-transfer's two sides apart
    return {PK: activity_pk(address), SK: f"{ACTIVITY_PREFIX}{_pad(block_time, 12)}#{event_id}#{direction}"}


def activity_pk(address: str) -> str:
    # a partition of its own: a busy wallet's timeline grows without bound, its profile must stay cheap to read
    return f"ACTIVITY#{address.lower()}"


def tag_key(address: str, tag: str) -> dict[str, str]:
    return {PK: wallet_pk(address), SK: f"{TAG_PREFIX}{tag}"}


def wallet_state_key(address: str) -> dict[str, str]:
    return {PK: wallet_pk(address), SK: "STATE"}


def applied_key(event_id: str) -> dict[str, str]:
    return {PK: f"APPLIED#{event_id}", SK: "APPLIED"}


def _shard(text: str, shards: int) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:2], "big") % shards


def score_gsi(address: str, score_key: str) -> dict[str, str]:
    return {"gsi1pk": score_partition(_shard(address, SCORE_SHARDS)), "gsi1sk": score_key}


def score_partition(shard: int) -> str:
    return f"SCORE#{shard}"


def holders_gsi(chain_id: int, contract: str, balance: int) -> dict[str, str]:
    return {"gsi2pk": holders_partition(chain_id, contract), "gsi2sk": _pad(balance, UINT256_DIGITS)}


def holders_partition(chain_id: int, contract: str) -> str:
    return f"HOLDERS#{chain_id}#{contract.lower()}"


def due_gsi(address: str, due_unix: int) -> dict[str, str]:
    return {"gsi3pk": due_partition(_shard(address, DUE_SHARDS)), "gsi3sk": f"{_pad(due_unix, 12)}#{address}"}


def due_partition(shard: int) -> str:
    return f"DUE#{shard}"


def due_upper_bound(now_unix: int) -> str:
    return f"{_pad(now_unix, 12)}#~"


REPLAY_SHARDS: Final = 4


def replay_pending_key(address: str) -> dict[str, str]:
    return {PK: replay_partition(_shard(address.lower(), REPLAY_SHARDS)), SK: address.lower()}


def replay_partition(shard: int) -> str:
    return f"REPLAY#{shard}"


def replay_state_key() -> dict[str, str]:
    return {PK: "REPLAY", SK: "STATE"}


# ---- App table: API keys -----------------------------------------------------------------------


def api_key_key(secret_hash: str) -> dict[str, str]:
    return {PK: f"APIKEY#{secret_hash}", SK: "KEY"}


API_KEYS_PARTITION: Final = "APIKEYS"


def api_key_list_gsi(key_id: str) -> dict[str, str]:
    return {"gsi1pk": API_KEYS_PARTITION, "gsi1sk": key_id}


# ---- App table: configuration ------------------------------------------------------------------


def cursor_signing_key() -> dict[str, str]:
    return {PK: "CONFIG", SK: "CURSOR_SIGNING_KEY"}


def churn_model_key(version: int | None = None) -> dict[str, str]:
    # not under CONFIG: every intelligence function reads the model, and only the API may read CONFIG
    return {PK: "MODEL", SK: "CHURN" if version is None else f"CHURN#v{_pad(version, 6)}"}


# ---- App table: segments -----------------------------------------------------------------------

MEMBER_PREFIX: Final = "MEMBER#"
SEGMENT_VERSION_PREFIX: Final = "DEF#v"
SEGMENTS_GSI1PK: Final = "SEGMENTS"


def segment_pk(segment_id: str) -> str:
    return f"SEGMENT#{segment_id}"


def segment_def_key(segment_id: str, version: int | None = None) -> dict[str, str]:
    return {PK: segment_pk(segment_id), SK: "DEF" if version is None else f"{SEGMENT_VERSION_PREFIX}{_pad(version, 6)}"}


def segment_list_gsi(segment_id: str) -> dict[str, str]:
    return {"gsi1pk": SEGMENTS_GSI1PK, "gsi1sk": segment_id}


def member_key(segment_id: str, address: str) -> dict[str, str]:
    return {PK: segment_pk(segment_id), SK: f"{MEMBER_PREFIX}{address.lower()}"}


def member_of_gsi(address: str, segment_id: str) -> dict[str, str]:
    return {"gsi2pk": f"MEMBEROF#{address.lower()}", "gsi2sk": segment_id}


def segment_eval_key(segment_id: str, version: int) -> dict[str, str]:
    return {PK: segment_pk(segment_id), SK: f"EVAL#{_pad(version, 6)}"}


# ---- App table: tags ---------------------------------------------------------------------------


def tagged_gsi(tag: str, address: str) -> dict[str, str]:
    return {"gsi1pk": tagged_partition(tag), "gsi1sk": address.lower()}


def tagged_partition(tag: str) -> str:
    return f"TAGGED#{tag}"


# ---- App table: contacts and suppressions ------------------------------------------------------

CONTACT_PREFIX: Final = "CONTACT#"


def contact_key(contact_id: str) -> dict[str, str]:
    return {PK: f"{CONTACT_PREFIX}{contact_id}", SK: "CONTACT"}


def contact_list_gsi(contact_id: str) -> dict[str, str]:
    return {"gsi1pk": "CONTACTS", "gsi1sk": contact_id}


def wallet_contact_key(address: str, contact_id: str) -> dict[str, str]:
    return {PK: wallet_pk(address), SK: f"{CONTACT_PREFIX}{contact_id}"}


def identity_key(kind: str, digest: str) -> dict[str, str]:
    return {PK: f"IDENTITY#{kind}#{digest}", SK: "IDENTITY"}


def suppression_key(kind: str, value: str) -> dict[str, str]:
    # value is an identity's keyed hash, or a wallet address (public on chain anyway)
    return {PK: f"SUPPRESS#{kind}#{value}", SK: "SUPPRESS"}


def identity_hash_key() -> dict[str, str]:
    return {PK: "CONFIG", SK: "IDENTITY_HASH_KEY"}


# ---- App table: campaigns ----------------------------------------------------------------------

TARGET_PREFIX: Final = "TARGET#"


def campaign_pk(campaign_id: str) -> str:
    return f"CAMPAIGN#{campaign_id}"


def campaign_key(campaign_id: str) -> dict[str, str]:
    return {PK: campaign_pk(campaign_id), SK: "DEF"}


def campaign_list_gsi(campaign_id: str) -> dict[str, str]:
    return {"gsi1pk": "CAMPAIGNS", "gsi1sk": campaign_id}


def campaign_trigger_gsi(trigger: str, campaign_id: str) -> dict[str, str]:
    return {"gsi2pk": trigger_partition(trigger), "gsi2sk": campaign_id}


def trigger_partition(trigger: str) -> str:
    return f"TRIGGER#{trigger}"


def campaign_due_gsi(send_at: int, campaign_id: str) -> dict[str, str]:
    return {"gsi3pk": CAMPAIGN_DUE_PARTITION, "gsi3sk": f"{_pad(send_at, 12)}#{campaign_id}"}


CAMPAIGN_DUE_PARTITION: Final = "CAMPAIGN_DUE"


def campaign_stats_key(campaign_id: str) -> dict[str, str]:
    return {PK: campaign_pk(campaign_id), SK: "STATS"}


def converting_gsi(campaign_id: str) -> dict[str, str]:
    return {"gsi1pk": CONVERTING_PARTITION, "gsi1sk": campaign_id}


CONVERTING_PARTITION: Final = "CONVERTING"


def target_key(campaign_id: str, address: str, occurrence: str) -> dict[str, str]:
    return {PK: campaign_pk(campaign_id), SK: f"{TARGET_PREFIX}{address.lower()}#{occurrence}"}


def sends_by_status_gsi(campaign_id: str, status: str, address: str, occurrence: str) -> dict[str, str]:
    return {"gsi3pk": sends_status_partition(campaign_id, status), "gsi3sk": f"{address.lower()}#{occurrence}"}


def sends_status_partition(campaign_id: str, status: str) -> str:
    return f"SENDS#{campaign_id}#{status}"


def send_key(campaign_id: str, address: str, occurrence: str) -> dict[str, str]:
    return {PK: f"SEND#{campaign_id}#{address.lower()}#{occurrence}", SK: "SEND"}


def frequency_key(address: str) -> dict[str, str]:
    return {PK: f"FREQ#{address.lower()}", SK: "FREQ"}


def attribution_key(address: str, campaign_id: str) -> dict[str, str]:
    # one window per (wallet, campaign): a later occurrence of a triggered campaign replaces it, and the
    # profiles function fetches a batch's windows by key, with no query per wallet
    return {PK: f"ATTRIB#{address.lower()}", SK: campaign_id}


def conversion_key(campaign_id: str, address: str, occurrence: str) -> dict[str, str]:
    return {PK: campaign_pk(campaign_id), SK: f"CONV#{address.lower()}#{occurrence}"}


def converted_by_gsi(event_id: str, campaign_id: str, address: str, occurrence: str) -> dict[str, str]:
    return {"gsi1pk": converted_by_partition(event_id), "gsi1sk": f"{campaign_id}#{address.lower()}#{occurrence}"}


def converted_by_partition(event_id: str) -> str:
    return f"CONVERTED#{event_id}"


def cooldown_key(campaign_id: str, address: str) -> dict[str, str]:
    return {PK: f"COOLDOWN#{campaign_id}#{address.lower()}", SK: "COOLDOWN"}


# ---- App table: lending --------------------------------------------------------------

LENDING_POSITION_PREFIX: Final = "LENDPOS#"
HEALTH_PREFIX: Final = "HEALTH#"


def lending_position_key(address: str, chain_id: int, pool: str) -> dict[str, str]:
    return {PK: wallet_pk(address), SK: f"{LENDING_POSITION_PREFIX}{chain_id}#{pool.lower()}"}


def health_key(address: str, chain_id: int, pool: str) -> dict[str, str]:
    return {PK: wallet_pk(address), SK: f"{HEALTH_PREFIX}{chain_id}#{pool.lower()}"}


def lending_summary_key(address: str) -> dict[str, str]:
    return {PK: wallet_pk(address), SK: "LENDING"}


def exposure_partition(chain_id: int, asset: str) -> str:
    return f"EXPOSED#{chain_id}#{asset.lower()}"


def exposure_key(chain_id: int, asset: str, pool: str, address: str) -> dict[str, str]:
    return {PK: exposure_partition(chain_id, asset), SK: f"{pool.lower()}#{address.lower()}"}


def lending_applied_key(event_id: str) -> dict[str, str]:
    return {PK: f"LENDAPPLIED#{event_id}", SK: "APPLIED"}


RATES_PARTITION: Final = "RATES"


def rates_key(chain_id: int, pool: str, asset: str) -> dict[str, str]:
    return {PK: RATES_PARTITION, SK: f"{chain_id}#{pool.lower()}#{asset.lower()}"}


def alert_pk(address: str) -> str:
    return f"ALERT#{address.lower()}"


def alert_key(address: str, chain_id: int, pool: str, seq: int, band: str) -> dict[str, str]:
    return {PK: alert_pk(address), SK: f"{chain_id}#{pool.lower()}#{_pad(seq, 8)}#{band}"}


# ---- App table: security ----------------------------------------------------------------------


def rate_key(key_id: str, window_start: int) -> dict[str, str]:
    return {PK: f"RATE#{key_id}", SK: _pad(window_start, 12)}


def audit_partition(day: str) -> str:
    return f"AUDIT#{day}"


def audit_key(day: str, at_ms: int, entry_id: str) -> dict[str, str]:
    return {PK: audit_partition(day), SK: f"{_pad(at_ms, 13)}#{entry_id}"}


def consent_log_pk(contact_id: str) -> str:
    return f"CONSENTLOG#{contact_id}"


def consent_log_key(contact_id: str, at_ms: int, channel: str, entry_id: str) -> dict[str, str]:
    return {PK: consent_log_pk(contact_id), SK: f"{_pad(at_ms, 13)}#{channel}#{entry_id}"}


def import_pk(job_id: str) -> str:
    return f"IMPORT#{job_id}"


def import_status_key(job_id: str) -> dict[str, str]:
    return {PK: import_pk(job_id), SK: "STATUS"}


def import_chunk_key(job_id: str, chunk: int) -> dict[str, str]:
    return {PK: import_pk(job_id), SK: f"CHUNK#{_pad(chunk, 6)}"}


# ---- App table: airdrops ------------------------------------------------------------------------


def airdrop_pk(snapshot_id: str) -> str:
    return f"AIRDROP#{snapshot_id}"


def airdrop_key(snapshot_id: str) -> dict[str, str]:
    return {PK: airdrop_pk(snapshot_id), SK: "SNAPSHOT"}


def airdrops_of_segment_gsi(segment_id: str, created_at: int, snapshot_id: str) -> dict[str, str]:
    return {"gsi1pk": airdrops_of_segment_partition(segment_id), "gsi1sk": f"{_pad(created_at, 12)}#{snapshot_id}"}


def airdrops_of_segment_partition(segment_id: str) -> str:
    return f"AIRDROPS#{segment_id}"


def airdrop_page_key(snapshot_id: str, page: int) -> dict[str, str]:
    return {PK: airdrop_pk(snapshot_id), SK: f"PAGE#{_pad(page, 6)}"}


def airdrop_distributor_key(snapshot_id: str) -> dict[str, str]:
    return {PK: airdrop_pk(snapshot_id), SK: "DISTRIBUTOR"}


def claims_partition(chain_id: int, distributor: str) -> str:
    return f"CLAIM#{chain_id}#{distributor.lower()}"


def claim_key(chain_id: int, distributor: str, account: str) -> dict[str, str]:
    return {PK: claims_partition(chain_id, distributor), SK: account.lower()}
