"""Every DynamoDB key shape Kith uses, and nothing else.

Access patterns, written down first (docs/architecture.md, "Key shapes"):

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
  A51 conversion credited (once) ............ pk=CAMPAIGN#<id>           sk=CONV#<addr>#<occurrence>
  A52 conversions an event earned ........... gsi1pk=CONVERTED#<event id> gsi1sk=<id>#<addr>#<occurrence> (on CONV#)

  A53 wallets whose replayed history awaits one evaluation  pk=REPLAY#<shard>  sk=<addr>   (carries the generation)
  A54 history replay: last history seen, drain scheduled, generation  pk=REPLAY  sk=STATE

Lending
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
Airdrops
  AD1 airdrop snapshot (immutable header) ... pk=AIRDROP#<id>            sk=SNAPSHOT
  AD2 snapshots of a segment ................ gsi1pk=AIRDROPS#<segment id> gsi1sk=<created:012>#<id>  (on SNAPSHOT)
  AD3 snapshot recipients, paged ............ pk=AIRDROP#<id>            sk=PAGE#<n:06>   (written before the header)
  AD4 distributor of a snapshot (write-once)  pk=AIRDROP#<id>            sk=DISTRIBUTOR
  AD5 a claim on a tracked distributor ...... pk=CLAIM#<chain>#<distributor>  sk=<account>


NFT markets (written by profiles inside each event's transaction)
  M1  a collection's day: mints, sales, volume  pk=TOKEN#<chain>#<addr>  sk=NFTDAY#<day:06>
  M2  one sale's price (the floor's window) . pk=TOKEN#<chain>#<addr>    sk=NFTSALE#<day:06>#<event id>
  M3  a collection's holders by size, hold times, flipping holders
                                              pk=TOKEN#<chain>#<addr>    sk=NFTSTATS
Only the API function may touch APIKEY#, CONTACT#, IDENTITY#, CONFIG, AUDIT#, CONSENTLOG# and IMPORT#
(template.yaml: dynamodb:LeadingKeys conditions); the authorizer reads APIKEY#, the sender reads CONTACT#.
"""

from __future__ import annotations

from shared.store.keys.inverses import (
    LENDING_SUMMARY_SK,
    PROFILE_SK,
    STATE_SK,
    WALLET_PREFIX,
    KeyShapeError,
    WalletItemKind,
    activity_wallet_of,
    attribution_wallet_of,
    campaign_of,
    contact_of,
    frequency_wallet_of,
    holding_of,
    member_of,
    pool_of,
    segment_of,
    send_ref_of,
    tag_of,
    target_of,
    wallet_item_kind,
    wallet_of,
)
from shared.store.keys.shapes import (
    ACTIVITY_PREFIX,
    API_KEYS_PARTITION,
    CAMPAIGN_DUE_PARTITION,
    CHAIN_CONFIG_SK,
    CHAIN_ITEMS_RANGE,
    CHAINS_PARTITION,
    CONTACT_PREFIX,
    CONTRACT_PREFIX,
    CONVERTING_PARTITION,
    DUE_SHARDS,
    GSI1,
    GSI2,
    GSI3,
    HEALTH_PREFIX,
    HOLDING_PREFIX,
    LENDING_POSITION_PREFIX,
    MEMBER_PREFIX,
    NFT_DAY_PREFIX,
    NFT_SALE_PREFIX,
    PK,
    RATES_PARTITION,
    REPLAY_SHARDS,
    SCORE_SHARDS,
    SEGMENT_VERSION_PREFIX,
    SEGMENTS_GSI1PK,
    SK,
    TAG_PREFIX,
    TARGET_PREFIX,
    UINT256_DIGITS,
    activity_key,
    activity_pk,
    airdrop_distributor_key,
    airdrop_key,
    airdrop_page_key,
    airdrop_pk,
    airdrops_of_segment_gsi,
    airdrops_of_segment_partition,
    alert_key,
    alert_pk,
    api_key_key,
    api_key_list_gsi,
    applied_key,
    attribution_key,
    audit_key,
    audit_partition,
    backfill_range_key,
    backfill_status_key,
    campaign_due_gsi,
    campaign_key,
    campaign_list_gsi,
    campaign_pk,
    campaign_stats_key,
    campaign_trigger_gsi,
    chain_config_key,
    chain_list_gsi,
    chain_pk,
    chains_seed_key,
    churn_model_key,
    claim_key,
    claims_partition,
    consent_log_key,
    consent_log_pk,
    contact_key,
    contact_list_gsi,
    conversion_key,
    converted_by_gsi,
    converted_by_partition,
    converting_gsi,
    cooldown_key,
    cursor_key,
    cursor_signing_key,
    due_gsi,
    due_partition,
    due_upper_bound,
    event_pk,
    event_sk,
    exposure_key,
    exposure_partition,
    frequency_key,
    health_key,
    holders_gsi,
    holders_partition,
    holding_key,
    identity_hash_key,
    identity_key,
    import_chunk_key,
    import_pk,
    import_status_key,
    lending_applied_key,
    lending_position_key,
    lending_summary_key,
    member_key,
    member_of_gsi,
    nft_day_key,
    nft_sale_key,
    nft_stats_key,
    profile_key,
    rate_key,
    rates_key,
    replay_partition,
    replay_pending_key,
    replay_state_key,
    score_gsi,
    score_partition,
    segment_def_key,
    segment_eval_key,
    segment_list_gsi,
    segment_pk,
    send_key,
    sends_by_status_gsi,
    sends_status_partition,
    suppression_key,
    tag_key,
    tagged_gsi,
    tagged_partition,
    target_key,
    token_meta_key,
    token_partition,
    token_stats_key,
    tracked_contract_key,
    trigger_partition,
    wallet_contact_key,
    wallet_pk,
    wallet_state_key,
)

__all__ = [
    "ACTIVITY_PREFIX",
    "API_KEYS_PARTITION",
    "CAMPAIGN_DUE_PARTITION",
    "CHAINS_PARTITION",
    "CHAIN_CONFIG_SK",
    "CHAIN_ITEMS_RANGE",
    "CONTACT_PREFIX",
    "CONTRACT_PREFIX",
    "CONVERTING_PARTITION",
    "DUE_SHARDS",
    "GSI1",
    "GSI2",
    "GSI3",
    "HEALTH_PREFIX",
    "HOLDING_PREFIX",
    "LENDING_POSITION_PREFIX",
    "LENDING_SUMMARY_SK",
    "MEMBER_PREFIX",
    "NFT_DAY_PREFIX",
    "NFT_SALE_PREFIX",
    "PK",
    "PROFILE_SK",
    "RATES_PARTITION",
    "REPLAY_SHARDS",
    "SCORE_SHARDS",
    "SEGMENTS_GSI1PK",
    "SEGMENT_VERSION_PREFIX",
    "SK",
    "STATE_SK",
    "TAG_PREFIX",
    "TARGET_PREFIX",
    "UINT256_DIGITS",
    "WALLET_PREFIX",
    "KeyShapeError",
    "WalletItemKind",
    "activity_key",
    "activity_pk",
    "activity_wallet_of",
    "airdrop_distributor_key",
    "airdrop_key",
    "airdrop_page_key",
    "airdrop_pk",
    "airdrops_of_segment_gsi",
    "airdrops_of_segment_partition",
    "alert_key",
    "alert_pk",
    "api_key_key",
    "api_key_list_gsi",
    "applied_key",
    "attribution_key",
    "attribution_wallet_of",
    "audit_key",
    "audit_partition",
    "backfill_range_key",
    "backfill_status_key",
    "campaign_due_gsi",
    "campaign_key",
    "campaign_list_gsi",
    "campaign_of",
    "campaign_pk",
    "campaign_stats_key",
    "campaign_trigger_gsi",
    "chain_config_key",
    "chain_list_gsi",
    "chain_pk",
    "chains_seed_key",
    "churn_model_key",
    "claim_key",
    "claims_partition",
    "consent_log_key",
    "consent_log_pk",
    "contact_key",
    "contact_list_gsi",
    "contact_of",
    "conversion_key",
    "converted_by_gsi",
    "converted_by_partition",
    "converting_gsi",
    "cooldown_key",
    "cursor_key",
    "cursor_signing_key",
    "due_gsi",
    "due_partition",
    "due_upper_bound",
    "event_pk",
    "event_sk",
    "exposure_key",
    "exposure_partition",
    "frequency_key",
    "frequency_wallet_of",
    "health_key",
    "holders_gsi",
    "holders_partition",
    "holding_key",
    "holding_of",
    "identity_hash_key",
    "identity_key",
    "import_chunk_key",
    "import_pk",
    "import_status_key",
    "lending_applied_key",
    "lending_position_key",
    "lending_summary_key",
    "member_key",
    "member_of",
    "member_of_gsi",
    "nft_day_key",
    "nft_sale_key",
    "nft_stats_key",
    "pool_of",
    "profile_key",
    "rate_key",
    "rates_key",
    "replay_partition",
    "replay_pending_key",
    "replay_state_key",
    "score_gsi",
    "score_partition",
    "segment_def_key",
    "segment_eval_key",
    "segment_list_gsi",
    "segment_of",
    "segment_pk",
    "send_key",
    "send_ref_of",
    "sends_by_status_gsi",
    "sends_status_partition",
    "suppression_key",
    "tag_key",
    "tag_of",
    "tagged_gsi",
    "tagged_partition",
    "target_key",
    "target_of",
    "token_meta_key",
    "token_partition",
    "token_stats_key",
    "tracked_contract_key",
    "trigger_partition",
    "wallet_contact_key",
    "wallet_item_kind",
    "wallet_of",
    "wallet_pk",
    "wallet_state_key",
]
