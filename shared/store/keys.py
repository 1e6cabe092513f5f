"""Every DynamoDB key shape Kith uses, and nothing else.

Access patterns, written down first (design.md section 4):

Events table (pk, sk)
  E1  put one event idempotently ............ pk=EVT#<chain>#<block:012>  sk=<log:06>#<sub:04>#<tx>
  E2  all events of one block (rollback) .... Query pk=EVT#<chain>#<block:012>

App table (pk, sk; overloaded GSIs gsi1..gsi3, string keys)
  A1  chain cursor + recent block hashes .... pk=CHAIN#<chain>           sk=CURSOR
  A2  token metadata cache .................. pk=TOKEN#<chain>#<addr>    sk=META
  A3  backfill job status / ranges .......... pk=BACKFILL#<job>          sk=STATUS | RANGE#<from:012>
  A4  wallet profile (cross-chain) .......... pk=WALLET#<addr>           sk=PROFILE
  A5  wallet holdings per token ............. pk=WALLET#<addr>           sk=HOLD#<chain>#<contract>
  A6  wallets by score (top-N, paged) ....... gsi1pk=SCORE#<shard>        gsi1sk=<score key>
  A7  holders of a token by balance ......... gsi2pk=HOLDERS#<chain>#<contract>  gsi2sk=<balance:078>
  A8  event applied to profiles (once) ...... pk=APPLIED#<event id>      sk=APPLIED
  A9  wallets whose churn date is due ....... gsi3pk=DUE#<shard>          gsi3sk=<due unix:012>#<addr>
  A10 API keys by hash; list keys ........... pk=APIKEY#<sha256>         sk=KEY ; gsi1pk=APIKEYS gsi1sk=<key id>
  A11 wallet timeline ....................... pk=ACTIVITY#<addr>         sk=ACT#<time:012>#<event id>#<direction>
  A12 cursor signing key (per deployment) .. pk=CONFIG                 sk=CURSOR_SIGNING_KEY
  A13 token holder count .................... pk=TOKEN#<chain>#<addr>    sk=STATS
  A14 wallet state (churn, labels, due) ..... pk=WALLET#<addr>           sk=STATE  (carries A9 keys)
  A15 segment definition, current/history ... pk=SEGMENT#<id>            sk=DEF | DEF#v<version:06>
  A16 all segment definitions ............... gsi1pk=SEGMENTS            gsi1sk=<id>   (on sk=DEF)
  A17 segment members, paged ................ pk=SEGMENT#<id>            sk=MEMBER#<addr>
  A18 segments of a wallet .................. gsi2pk=MEMBEROF#<addr>     gsi2sk=<segment id>   (on MEMBER items)
  A19 churn model parameters ................ pk=CONFIG                  sk=CHURN_MODEL | CHURN_MODEL#v<version:06>
  A20 segment evaluation progress ........... pk=SEGMENT#<id>            sk=EVAL#<version:06>
  A21 wallet tags ........................... pk=WALLET#<addr>           sk=TAG#<tag>
  A22 wallets carrying a tag, paged ......... gsi1pk=TAGGED#<tag>        gsi1sk=<addr>   (on TAG# items)
  A23 contact (personal data lives only here) pk=CONTACT#<id>            sk=CONTACT ; gsi1pk=CONTACTS gsi1sk=<id>
  A24 contact of a wallet ................... pk=WALLET#<addr>           sk=CONTACT#<id>  (read with the wallet)
  A25 contact by identity (dedupe, lookup) .. pk=IDENTITY#<kind>#<hmac>  sk=IDENTITY      (no plain text in keys)
  A26 suppression (survives erasure) ........ pk=SUPPRESS#<kind>#<hmac|addr>  sk=SUPPRESS
  A27 campaign definition; all campaigns .... pk=CAMPAIGN#<id>           sk=DEF ; gsi1pk=CAMPAIGNS gsi1sk=<id>
  A28 campaigns a trigger fires ............. gsi2pk=TRIGGER#<trigger>   gsi2sk=<campaign id>   (on DEF, while active)
  A29 scheduled campaigns that are due ...... gsi3pk=CAMPAIGN_DUE        gsi3sk=<send at:012>#<id> (on DEF)
  A30 campaign counters per arm ............. pk=CAMPAIGN#<id>           sk=STATS
  A31 campaign target (snapshot, arm, state)  pk=CAMPAIGN#<id>           sk=TARGET#<addr>#<occurrence>
  A32 campaign sends by status .............. gsi3pk=SENDS#<id>#<status> gsi3sk=<addr>#<occurrence>  (on TARGET#)
  A33 a send, claimed before delivery ....... pk=SEND#<id>#<addr>#<occurrence>  sk=SEND   (attribute_not_exists)
  A34 recent sends of a wallet (freq. cap) .. pk=FREQ#<addr>             sk=FREQ
  A35 a wallet's conversion window per campaign pk=ATTRIB#<addr>        sk=<campaign id>  (BatchGetItem by key)
  A36 campaigns with open windows ........... gsi1pk=CONVERTING          gsi1sk=<id>   (on STATS)
  A37 wallet-trigger cooldown ............... pk=COOLDOWN#<id>#<addr>    sk=COOLDOWN
  A38 hashing key for identities (legacy: moved to SSM, read once to migrate) pk=CONFIG sk=IDENTITY_HASH_KEY
  A39 conversion credited (once) ............ pk=CAMPAIGN#<id>           sk=CONV#<addr>#<occurrence>
  A40 conversions an event earned ........... gsi1pk=CONVERTED#<event id> gsi1sk=<id>#<addr>#<occurrence> (on CONV#)

Lending (issue 7)
  A39 lending position, wallet x pool ....... pk=WALLET#<addr>           sk=LENDPOS#<chain>#<pool>
  A40 health factor, band, alert latch ...... pk=WALLET#<addr>           sk=HEALTH#<chain>#<pool>
  A41 wallet's lending alert summary ........ pk=WALLET#<addr>           sk=LENDING   (rate limit, first warning)
  A42 borrowers exposed to an asset ......... pk=EXPOSED#<chain>#<asset> sk=<pool>#<addr>  (debt or collateral)
  A43 event applied to positions (once) ..... pk=LENDAPPLIED#<event id>  sk=APPLIED
  A44 reserve rates of every tracked pool ... pk=RATES                   sk=<chain>#<pool>#<asset>
  A45 lending alert (idempotent record) ..... pk=ALERT#<addr>            sk=<chain>#<pool>#<seq:08>#<band>

Security
  A46 requests of an API key per window ..... pk=RATE#<key id>           sk=<window start:012>   (TTL)
  A47 audit log, one partition per day ...... pk=AUDIT#<yyyy-mm-dd>      sk=<time ms:013>#<entry id>
  A48 consent ledger (append-only) .......... pk=CONSENTLOG#<contact id> sk=<time ms:013>#<channel>#<entry id>
  A49 a background CSV import ............... pk=IMPORT#<job id>         sk=STATUS | CHUNK#<n:06>
  A50 churn model (moved out of CONFIG, which holds only the API's secrets)
                                              pk=MODEL                   sk=CHURN | CHURN#v<version:06>
Only the API function may touch APIKEY#, CONTACT#, IDENTITY#, CONFIG, AUDIT#, CONSENTLOG# and IMPORT#
(template.yaml: dynamodb:LeadingKeys conditions); the authorizer reads APIKEY#, the sender reads CONTACT#.
"""

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


def segment_pk(segment_id: str) -> str:
    return f"SEGMENT#{segment_id}"


def segment_def_key(segment_id: str, version: int | None = None) -> dict[str, str]:
    return {PK: segment_pk(segment_id), SK: "DEF" if version is None else f"DEF#v{_pad(version, 6)}"}


def segment_list_gsi(segment_id: str) -> dict[str, str]:
    return {"gsi1pk": "SEGMENTS", "gsi1sk": segment_id}


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


# ---- App table: lending (issue 7) --------------------------------------------------------------

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


# ---- Reading keys back -------------------------------------------------------------------------
# Every inverse sits here beside the shape it reads, so no caller strips a prefix by hand.

WALLET_PREFIX: Final = "WALLET#"
PROFILE_SK: Final = "PROFILE"
STATE_SK: Final = "STATE"
LENDING_SUMMARY_SK: Final = "LENDING"


class KeyShapeError(ValueError):
    """A key that is not of the shape asked for."""


def _after(prefix: str, text: str) -> str:
    if not text.startswith(prefix):
        raise KeyShapeError(f"{text!r} does not start with {prefix!r}")
    return text[len(prefix) :]


def wallet_of(pk: str) -> str:
    """The address of a wallet partition (pk=WALLET#<addr>)."""
    return _after(WALLET_PREFIX, pk)


def activity_wallet_of(pk: str) -> str:
    """The address of a timeline partition (pk=ACTIVITY#<addr>)."""
    return _after("ACTIVITY#", pk)


WalletItemKind = str
"""One of: profile, state, holding, tag, contact, lending_position, health, lending_summary, other."""

_WALLET_ITEM_PREFIXES: Final = (
    (HOLDING_PREFIX, "holding"),
    (TAG_PREFIX, "tag"),
    (CONTACT_PREFIX, "contact"),
    (LENDING_POSITION_PREFIX, "lending_position"),
    (HEALTH_PREFIX, "health"),
)
_WALLET_ITEM_NAMES: Final = {PROFILE_SK: "profile", STATE_SK: "state", LENDING_SUMMARY_SK: "lending_summary"}


def wallet_item_kind(sk: str) -> WalletItemKind:
    """Which of a wallet partition's items a sort key names."""
    if sk in _WALLET_ITEM_NAMES:
        return _WALLET_ITEM_NAMES[sk]
    for prefix, kind in _WALLET_ITEM_PREFIXES:
        if sk.startswith(prefix):
            return kind
    return "other"


def holding_of(sk: str) -> tuple[int, str]:
    """(chain id, contract) of a holding's sort key (HOLD#<chain>#<contract>)."""
    chain_id, contract = _after(HOLDING_PREFIX, sk).split("#", 1)
    return int(chain_id), contract


def pool_of(sk: str) -> tuple[int, str]:
    """(chain id, pool) of a lending position's or health record's sort key."""
    rest = sk.removeprefix(LENDING_POSITION_PREFIX) if sk.startswith(LENDING_POSITION_PREFIX) else None
    if rest is None:
        rest = _after(HEALTH_PREFIX, sk)
    chain_id, pool = rest.split("#", 1)
    return int(chain_id), pool


def tag_of(sk: str) -> str:
    return _after(TAG_PREFIX, sk)


def contact_of(sk_or_pk: str) -> str:
    """The contact id of a CONTACT#<id> key (the contact's pk, or its link's sk in a wallet partition)."""
    return _after(CONTACT_PREFIX, sk_or_pk)


def segment_of(pk: str) -> str:
    return _after("SEGMENT#", pk)


def member_of(sk: str) -> str:
    """The address of a segment member's sort key (MEMBER#<addr>)."""
    return _after(MEMBER_PREFIX, sk)


def campaign_of(pk: str) -> str:
    return _after("CAMPAIGN#", pk)


def target_of(sk: str) -> tuple[str, str]:
    """(address, occurrence) of a campaign target's sort key (TARGET#<addr>#<occurrence>)."""
    address, occurrence = _after(TARGET_PREFIX, sk).split("#", 1)
    return address, occurrence


def send_ref_of(gsi3sk: str) -> tuple[str, str]:
    """(address, occurrence) of a send's status-index sort key (<addr>#<occurrence>)."""
    address, occurrence = gsi3sk.split("#", 1)
    return address, occurrence
