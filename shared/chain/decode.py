"""Raw eth_getLogs entries to typed events, by shape. Pure: no I/O, unit-tested with recorded logs.

ERC-20 and ERC-721 share the Transfer topic, so the shape decides: 3 topics + one data word is
ERC-20, 4 topics + empty data is ERC-721. Everything the decoder cannot read exactly (a wrong topic
count, short data, an address word with dirty high bytes, mismatched batch arrays) is counted as
malformed and skipped; it never stops ingestion.

The fixed-size events are decoded by slicing hex and int(x, 16): eth_abi costs ~10x more and
decoding is on the benchmarked path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import TypeAdapter

from shared.chain import abi
from shared.chain.seaport import Unmodelled, attach_sales, order_fulfilled
from shared.events import (
    ZERO_ADDRESS,
    AirdropClaim,
    LendingAction,
    LendingEvent,
    NftSale,
    PriceUpdate,
    StakeAction,
    StakeEvent,
    Standard,
    TokenTransfer,
    VoteCast,
)

Event = TokenTransfer | VoteCast | LendingEvent | PriceUpdate | StakeEvent | AirdropClaim | NftSale


class TokenMeta(NamedTuple):
    name: str | None
    symbol: str | None
    decimals: int | None


class Malformed(ValueError):
    """The log does not have the shape its topic promises."""


@dataclass
class Decoded:
    events: list[Event] = field(default_factory=list)
    # logs of no shape Kith decodes (an Approval, an anonymous event): not errors, so not malformed
    ignored: int = 0
    malformed: int = 0
    malformed_samples: list[str] = field(default_factory=list)


_CLEAN_ADDRESS_PREFIX = "0" * 24


def _address(word: str) -> str:
    if len(word) != 64 or not word.startswith(_CLEAN_ADDRESS_PREFIX):
        raise Malformed("address word has dirty high bytes")
    return "0x" + word[24:].lower()


def _topic_address(topic: str) -> str:
    return _address(topic[2:])


def _words(data: str, count: int) -> list[str]:
    body = data[2:]
    if len(body) < 64 * count:
        raise Malformed(f"data has {len(body) // 64} words, need {count}")
    return [body[64 * i : 64 * i + 64] for i in range(count)]


def _uint(word: str) -> int:
    return int(word, 16)


def _dynamic_bytes(data: str, offset_word: str) -> bytes:
    body = data[2:]
    offset = _uint(offset_word) * 2
    if offset + 64 > len(body):
        raise Malformed("dynamic offset beyond data")
    length = _uint(body[offset : offset + 64]) * 2
    start = offset + 64
    if start + length > len(body):
        raise Malformed("dynamic length beyond data")
    return bytes.fromhex(body[start : start + length])


def _uint_array(body: str, offset_word: str) -> list[int]:
    offset = _uint(offset_word) * 2
    if offset + 64 > len(body):
        raise Malformed("array offset beyond data")
    count = _uint(body[offset : offset + 64])
    start = offset + 64
    if start + 64 * count > len(body):
        raise Malformed("array length beyond data")
    return [int(body[start + 64 * i : start + 64 * i + 64], 16) for i in range(count)]


# Each decoder receives the log, the common fields and the token metadata, and returns events.
_Common = dict[str, Any]
_Decoder = Callable[[Mapping[str, Any], _Common, TokenMeta | None], list[Event]]


def _vote(log: Mapping[str, Any], common: _Common, _: TokenMeta | None) -> list[Event]:
    topics = log["topics"]
    if len(topics) != 2:
        raise Malformed(f"VoteCast with {len(topics)} topics")
    proposal, support, weight, reason_offset = _words(log["data"], 4)
    support_value = _uint(support)
    if support_value > 255:
        raise Malformed("support is not a uint8")
    reason = _dynamic_bytes(log["data"], reason_offset).decode("utf-8", errors="replace")
    return [
        VoteCast(
            **common,
            standard=Standard.GOVERNOR,
            voter=_topic_address(topics[1]),
            proposal_id=_uint(proposal),
            support=support_value,
            weight=_uint(weight),
            reason=reason,
        )
    ]


def _lending(action: LendingAction, log: Mapping[str, Any], common: _Common, **fields: Any) -> list[Event]:
    return [LendingEvent(**common, standard=Standard.LENDING_POOL, action=action, **fields)]


def _need_topics(log: Mapping[str, Any], count: int, name: str) -> list[str]:
    topics: list[str] = log["topics"]
    if len(topics) != count:
        raise Malformed(f"{name} with {len(topics)} topics, expected {count}")
    return topics


def _supply(log: Mapping[str, Any], common: _Common, _: TokenMeta | None) -> list[Event]:
    topics = _need_topics(log, 4, "Supply")
    _user, amount = _words(log["data"], 2)
    _address(_user)
    return _lending(
        "supply", log, common, reserve=_topic_address(topics[1]), user=_topic_address(topics[2]), amount=_uint(amount)
    )


def _withdraw(log: Mapping[str, Any], common: _Common, _: TokenMeta | None) -> list[Event]:
    topics = _need_topics(log, 4, "Withdraw")
    (amount,) = _words(log["data"], 1)
    return _lending(
        "withdraw", log, common, reserve=_topic_address(topics[1]), user=_topic_address(topics[2]), amount=_uint(amount)
    )


def _borrow(log: Mapping[str, Any], common: _Common, _: TokenMeta | None) -> list[Event]:
    topics = _need_topics(log, 4, "Borrow")
    _user, amount, _mode, _rate = _words(log["data"], 4)
    _address(_user)
    return _lending(
        "borrow", log, common, reserve=_topic_address(topics[1]), user=_topic_address(topics[2]), amount=_uint(amount)
    )


def _repay(log: Mapping[str, Any], common: _Common, _: TokenMeta | None) -> list[Event]:
    topics = _need_topics(log, 4, "Repay")
    amount, _use_atokens = _words(log["data"], 2)
    return _lending(
        "repay", log, common, reserve=_topic_address(topics[1]), user=_topic_address(topics[2]), amount=_uint(amount)
    )


def _liquidation(log: Mapping[str, Any], common: _Common, _: TokenMeta | None) -> list[Event]:
    topics = _need_topics(log, 4, "LiquidationCall")
    debt, seized, liquidator, _receive = _words(log["data"], 4)
    return _lending(
        "liquidation",
        log,
        common,
        reserve=_topic_address(topics[2]),
        collateral_asset=_topic_address(topics[1]),
        user=_topic_address(topics[3]),
        amount=_uint(debt),
        liquidated_collateral=_uint(seized),
        liquidator=_address(liquidator),
    )


def _collateral(action: LendingAction) -> _Decoder:
    def decode(log: Mapping[str, Any], common: _Common, _: TokenMeta | None) -> list[Event]:
        topics = _need_topics(log, 3, "ReserveUsedAsCollateral")
        return _lending(action, log, common, reserve=_topic_address(topics[1]), user=_topic_address(topics[2]))

    return decode


def _reserve_data(log: Mapping[str, Any], common: _Common, _: TokenMeta | None) -> list[Event]:
    topics = _need_topics(log, 2, "ReserveDataUpdated")
    liquidity_rate, _stable, variable_rate, _li, _vi = _words(log["data"], 5)
    # no wallet changes; the zero address marks a pool-level event for consumers
    return _lending(
        "reserve_data_updated",
        log,
        common,
        reserve=_topic_address(topics[1]),
        user=ZERO_ADDRESS,
        liquidity_rate=_uint(liquidity_rate),
        variable_borrow_rate=_uint(variable_rate),
    )


def _price_updated(log: Mapping[str, Any], common: _Common, _: TokenMeta | None) -> list[Event]:
    # AssetPriceUpdated(address asset, uint256 price, uint256 timestamp): nothing indexed, three words
    _need_topics(log, 1, "AssetPriceUpdated")
    asset, price, timestamp = _words(log["data"], 3)
    return [
        PriceUpdate(
            **common,
            standard=Standard.PRICE_ORACLE,
            asset=_address(asset),
            price=_uint(price),
            timestamp=_uint(timestamp),
        )
    ]


def _exact_words(log: Mapping[str, Any], count: int, name: str) -> list[str]:
    data = log["data"]
    if len(data) != 2 + 64 * count:
        raise Malformed(f"{name} with {max(0, len(data) - 2) // 2} data bytes, expected {32 * count}")
    return _words(data, count)


def _vault_deposit(log: Mapping[str, Any], common: _Common, _: TokenMeta | None) -> list[Event]:
    # ERC-4626 Deposit(address indexed sender, address indexed owner, uint256 assets, uint256 shares)
    topics = _need_topics(log, 3, "Deposit")
    assets, shares = _exact_words(log, 2, "Deposit")
    return [
        StakeEvent(
            **common,
            standard=Standard.ERC4626_VAULT,
            action="deposit",
            sender=_topic_address(topics[1]),
            owner=_topic_address(topics[2]),
            assets=_uint(assets),
            shares=_uint(shares),
        )
    ]


def _claimed(log: Mapping[str, Any], common: _Common, _: TokenMeta | None) -> list[Event]:
    # Claimed(address indexed account, uint256 amount)
    topics = _need_topics(log, 2, "Claimed")
    (amount,) = _exact_words(log, 1, "Claimed")
    return [
        AirdropClaim(
            **common, standard=Standard.MERKLE_DISTRIBUTOR, account=_topic_address(topics[1]), amount=_uint(amount)
        )
    ]


def _vault_withdraw(log: Mapping[str, Any], common: _Common, _: TokenMeta | None) -> list[Event]:
    # ERC-4626 Withdraw(address indexed sender, address indexed receiver, address indexed owner, uint256 assets,
    # uint256 shares)
    topics = _need_topics(log, 4, "Withdraw")
    assets, shares = _exact_words(log, 2, "Withdraw")
    return [
        StakeEvent(
            **common,
            standard=Standard.ERC4626_VAULT,
            action="withdraw",
            sender=_topic_address(topics[1]),
            receiver=_topic_address(topics[2]),
            owner=_topic_address(topics[3]),
            assets=_uint(assets),
            shares=_uint(shares),
        )
    ]


def _staking(action: StakeAction, name: str) -> _Decoder:
    """Staked / Withdrawn(address indexed user, uint256 amount) as StakingRewards emits them, or with `user`
    unindexed (two data words, the same meaning); anything else under the topic is malformed."""

    def decode(log: Mapping[str, Any], common: _Common, _: TokenMeta | None) -> list[Event]:
        topics: list[str] = log["topics"]
        if len(topics) == 2:
            (amount,) = _exact_words(log, 1, name)
            user = _topic_address(topics[1])
        elif len(topics) == 1:
            user_word, amount = _exact_words(log, 2, name)
            user = _address(user_word)
        else:
            raise Malformed(f"{name} with {len(topics)} topics, expected 2 (user indexed) or 1")
        return [StakeEvent(**common, standard=Standard.STAKING, action=action, owner=user, assets=_uint(amount))]

    return decode


def _vote_with_params(log: Mapping[str, Any], common: _Common, meta: TokenMeta | None) -> list[Event]:
    # same head as VoteCast; the trailing params bytes are not part of the model
    _words(log["data"], 5)
    return _vote(log, common, meta)


def _order_fulfilled_placeholder(log: Mapping[str, Any], common: _Common, _: TokenMeta | None) -> list[Event]:
    # decode_logs routes OrderFulfilled to `order_fulfilled` with the contract's fee recipients
    raise Malformed("OrderFulfilled needs its marketplace's fee recipients")


DECODERS: dict[str, _Decoder] = {
    abi.VOTE_CAST: _vote,
    abi.VOTE_CAST_WITH_PARAMS: _vote_with_params,
    abi.SUPPLY: _supply,
    abi.WITHDRAW: _withdraw,
    abi.BORROW: _borrow,
    abi.REPAY: _repay,
    abi.LIQUIDATION_CALL: _liquidation,
    abi.COLLATERAL_ENABLED: _collateral("collateral_enabled"),
    abi.COLLATERAL_DISABLED: _collateral("collateral_disabled"),
    abi.RESERVE_DATA_UPDATED: _reserve_data,
    abi.ASSET_PRICE_UPDATED: _price_updated,
    abi.VAULT_DEPOSIT: _vault_deposit,
    abi.VAULT_WITHDRAW: _vault_withdraw,
    abi.STAKED: _staking("stake", "Staked"),
    abi.WITHDRAWN: _staking("unstake", "Withdrawn"),
    abi.CLAIMED: _claimed,
    abi.ORDER_FULFILLED: _order_fulfilled_placeholder,
}


def decode_logs(
    chain_id: int,
    logs: Iterable[Mapping[str, Any]],
    block_times: Mapping[int, int],
    tokens: Mapping[str, TokenMeta] | None = None,
    fee_recipients: Mapping[str, frozenset[str]] | None = None,
) -> Decoded:
    """Decode every log; logs of no known shape are counted as ignored, malformed ones (a known topic0 in
    the wrong shape, a missing field) as malformed, with a few samples for the log.

    Token transfers, nearly all of the volume, take an inlined path: the shape checks below are the
    whole validation (every field is built with its exact type), so the model is constructed without
    a second pass through pydantic (`model_construct`). Everything else goes through `DECODERS`.
    """
    result = Decoded()
    append = result.events.append
    extend = result.events.extend
    metas = _clean_metas(tokens or {})
    # a range has far fewer blocks and emitters than logs: their conversions are done once each
    blocks: dict[str, tuple[int, int | None]] = {}  # blockNumber as given -> (number, block time)
    emitters: dict[str, tuple[str, tuple[int | None, str | None] | None]] = {}  # address -> (lower, meta)
    construct, fields_set = TokenTransfer.model_construct, _TRANSFER_FIELDS_SET
    erc20, erc721, erc1155 = Standard.ERC20, Standard.ERC721, Standard.ERC1155
    for log in logs:
        try:
            topics = log["topics"]
            topic0 = topics[0] if topics else None
            kind = _HOT.get(topic0)  # type: ignore[arg-type]
            if kind is None:
                kind = _HOT.get(topic0.lower()) if isinstance(topic0, str) else None
                if kind is None and (topic0 is None or (isinstance(topic0, str) and topic0.lower() not in DECODERS)):
                    result.ignored += 1
                    continue
            if log.get("removed"):
                raise Malformed("removed log (the node reported a reorg in this answer)")
            number_hex = log["blockNumber"]
            block = blocks.get(number_hex)
            if block is None:
                number = int(number_hex, 16)
                block = blocks[number_hex] = (number, block_times.get(number))
            block_number, block_time = block
            if block_time is None:
                stamp = log.get("blockTimestamp")
                if stamp is None:
                    raise Malformed(f"no block time for block {block_number}")
                block_time = int(stamp, 16)
            address = log["address"]
            emitter = emitters.get(address)
            if emitter is None:
                lowered = address.lower()
                emitter = emitters[address] = (lowered, metas.get(lowered, _NO_META))
            contract, meta = emitter
            common: _Common = {
                "chain_id": chain_id,
                "block_number": block_number,
                "block_hash": log["blockHash"].lower(),
                "block_time": block_time,
                "tx_hash": log["transactionHash"].lower(),
                "log_index": int(log["logIndex"], 16),
                "sub_index": 0,
                "contract": contract,
            }
            if kind is None:
                decoder = DECODERS.get(topic0.lower()) if isinstance(topic0, str) else None
                if decoder is None:
                    raise Malformed(f"topic0 {topic0!r} is not a hex string")
                if decoder is _order_fulfilled_placeholder:
                    extend(order_fulfilled(log, common, (fee_recipients or {}).get(contract, frozenset())))
                    continue
                extend(decoder(log, common, tokens.get(contract) if tokens else None))
                continue
            if meta is None:
                raise Malformed(f"token metadata of {contract} is not (name, symbol, decimals)")
            data = log["data"]
            count = len(topics)
            batch = None
            if kind == 1:  # Transfer: the shape tells ERC-20 from ERC-721
                if count == 3 and len(data) == 66:
                    standard, token_id, amount, decimals = erc20, None, int(data, 16), meta[0]
                elif count == 4 and (data == "0x" or data == ""):
                    standard, token_id, amount, decimals = erc721, int(topics[3], 16), 1, None
                else:
                    raise Malformed(f"Transfer with {count} topics and {max(0, len(data) - 2) // 2} data bytes")
                sender, receiver = topics[1], topics[2]
            elif kind == 2:  # TransferSingle(operator, from, to, id, value)
                if count != 4:
                    raise Malformed(f"TransferSingle with {count} topics")
                if len(data) < 130:
                    raise Malformed(f"data has {max(0, len(data) - 2) // 64} words, need 2")
                standard, token_id, amount, decimals = erc1155, int(data[2:66], 16), int(data[66:130], 16), None
                sender, receiver = topics[2], topics[3]
            else:  # TransferBatch: one event per (id, value), told apart by sub_index
                batch = _transfer_batch_values(topics, data)
                standard, token_id, amount, decimals = erc1155, None, 0, None
                sender, receiver = topics[2], topics[3]
            if len(sender) != 66 or not sender.startswith(_CLEAN_ADDRESS_PREFIX, 2):
                raise Malformed("address word has dirty high bytes")
            if len(receiver) != 66 or not receiver.startswith(_CLEAN_ADDRESS_PREFIX, 2):
                raise Malformed("address word has dirty high bytes")
            values = {
                **common,
                "standard": standard,
                "kind": "transfer",
                "from_address": "0x" + sender[26:].lower(),
                "to_address": "0x" + receiver[26:].lower(),
                "token_id": token_id,
                "amount": amount,
                "decimals": decimals,
                "symbol": meta[1],
            }
            if batch is None:
                append(construct(fields_set, **values))
            else:
                extend(
                    construct(fields_set, **{**values, "sub_index": i, "token_id": token_id, "amount": amount})
                    for i, (token_id, amount) in enumerate(batch)
                )
        except Unmodelled:
            result.ignored += 1
        except (Malformed, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            result.malformed += 1
            if len(result.malformed_samples) < 5:
                where = f"{log.get('transactionHash')}#{log.get('logIndex')}" if isinstance(log, Mapping) else "?"
                result.malformed_samples.append(f"{where}: {exc}"[:300])
    if any(isinstance(event, NftSale) for event in result.events):
        result.events = attach_sales(result.events)
    return result


# ---- the token-transfer fast path ----------------------------------------------------------------

_HOT: dict[str, int] = {abi.TRANSFER: 1, abi.TRANSFER_SINGLE: 2, abi.TRANSFER_BATCH: 3}
_NO_META: tuple[int | None, str | None] = (None, None)
_INT_OR_NONE: TypeAdapter[int | None] = TypeAdapter(int | None)
_STR_OR_NONE: TypeAdapter[str | None] = TypeAdapter(str | None)


def _clean_metas(tokens: Mapping[str, TokenMeta]) -> dict[str, tuple[int | None, str | None] | None]:
    """(decimals, symbol) per contract, coerced as the model would (a DynamoDB Decimal becomes an int);
    None marks metadata the model would refuse: that contract's transfers are counted malformed."""
    clean: dict[str, tuple[int | None, str | None] | None] = {}
    for address, meta in tokens.items():
        try:
            clean[address] = (_INT_OR_NONE.validate_python(meta.decimals), _STR_OR_NONE.validate_python(meta.symbol))
        except (ValueError, TypeError, AttributeError):
            clean[address] = None
    return clean


def _transfer_batch_values(topics: Any, data: Any) -> list[tuple[int, int]]:
    if len(topics) != 4:
        raise Malformed(f"TransferBatch with {len(topics)} topics")
    ids_offset, values_offset = _words(data, 2)
    body = data[2:]
    ids = _uint_array(body, ids_offset)
    values = _uint_array(body, values_offset)
    if len(ids) != len(values):
        raise Malformed(f"TransferBatch with {len(ids)} ids and {len(values)} values")
    return list(zip(ids, values, strict=True))


# Every field but the defaulted `kind`, as validation records them. One set shared by all constructed
# events: pydantic copies it before any change (model_copy), and frozen models never add to it.
_TRANSFER_FIELDS_SET = set(TokenTransfer.model_fields) - {"kind"}
