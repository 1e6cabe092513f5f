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

from shared.chain import abi
from shared.events import (
    ZERO_ADDRESS,
    LendingAction,
    LendingEvent,
    Standard,
    TokenTransfer,
    VoteCast,
)

Event = TokenTransfer | VoteCast | LendingEvent


class TokenMeta(NamedTuple):
    name: str | None
    symbol: str | None
    decimals: int | None


class Malformed(ValueError):
    """The log does not have the shape its topic promises."""


@dataclass
class Decoded:
    events: list[Event] = field(default_factory=list)
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


def _transfer(log: Mapping[str, Any], common: _Common, meta: TokenMeta | None) -> list[Event]:
    topics = log["topics"]
    data = log["data"]
    decimals, symbol = (meta.decimals, meta.symbol) if meta is not None else (None, None)
    if len(topics) == 3 and len(data) == 66:
        return [
            TokenTransfer(
                **common,
                standard=Standard.ERC20,
                from_address=_topic_address(topics[1]),
                to_address=_topic_address(topics[2]),
                amount=int(data, 16),
                decimals=decimals,
                symbol=symbol,
            )
        ]
    if len(topics) == 4 and data in ("0x", ""):
        return [
            TokenTransfer(
                **common,
                standard=Standard.ERC721,
                from_address=_topic_address(topics[1]),
                to_address=_topic_address(topics[2]),
                token_id=int(topics[3], 16),
                amount=1,
                decimals=None,
                symbol=symbol,
            )
        ]
    raise Malformed(f"Transfer with {len(topics)} topics and {max(0, len(data) - 2) // 2} data bytes")


def _transfer_single(log: Mapping[str, Any], common: _Common, meta: TokenMeta | None) -> list[Event]:
    topics = log["topics"]
    if len(topics) != 4:
        raise Malformed(f"TransferSingle with {len(topics)} topics")
    token_id, value = _words(log["data"], 2)
    return [
        TokenTransfer(
            **common,
            standard=Standard.ERC1155,
            from_address=_topic_address(topics[2]),
            to_address=_topic_address(topics[3]),
            token_id=int(token_id, 16),
            amount=int(value, 16),
            decimals=None,
            symbol=meta.symbol if meta is not None else None,
        )
    ]


def _transfer_batch(log: Mapping[str, Any], common: _Common, meta: TokenMeta | None) -> list[Event]:
    topics = log["topics"]
    if len(topics) != 4:
        raise Malformed(f"TransferBatch with {len(topics)} topics")
    ids_offset, values_offset = _words(log["data"], 2)
    body = log["data"][2:]
    ids = _uint_array(body, ids_offset)
    values = _uint_array(body, values_offset)
    if len(ids) != len(values):
        raise Malformed(f"TransferBatch with {len(ids)} ids and {len(values)} values")
    sender, receiver = _topic_address(topics[2]), _topic_address(topics[3])
    symbol = meta.symbol if meta is not None else None
    base = {k: v for k, v in common.items() if k != "sub_index"}
    return [
        TokenTransfer(
            **base,
            sub_index=i,
            standard=Standard.ERC1155,
            from_address=sender,
            to_address=receiver,
            token_id=token_id,
            amount=value,
            decimals=None,
            symbol=symbol,
        )
        for i, (token_id, value) in enumerate(zip(ids, values, strict=True))
    ]


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


def _vote_with_params(log: Mapping[str, Any], common: _Common, meta: TokenMeta | None) -> list[Event]:
    # same head as VoteCast; the trailing params bytes are not part of the model
    _words(log["data"], 5)
    return _vote(log, common, meta)


DECODERS: dict[str, _Decoder] = {
    abi.TRANSFER: _transfer,
    abi.TRANSFER_SINGLE: _transfer_single,
    abi.TRANSFER_BATCH: _transfer_batch,
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
}


def decode_logs(
    chain_id: int,
    logs: Iterable[Mapping[str, Any]],
    block_times: Mapping[int, int],
    tokens: Mapping[str, TokenMeta] | None = None,
) -> Decoded:
    """Decode every log; unknown or malformed ones are counted (with a few samples for the log)."""
    result = Decoded()
    events = result.events
    tokens = tokens or {}
    for log in logs:
        try:
            topics = log["topics"]
            decoder = DECODERS.get(topics[0].lower()) if topics else None
            if decoder is None:
                raise Malformed(f"unknown topic0 {topics[0] if topics else None}")
            if log.get("removed"):
                raise Malformed("removed log (the node reported a reorg in this answer)")
            block_number = int(log["blockNumber"], 16)
            contract = log["address"].lower()
            block_time = block_times.get(block_number)
            if block_time is None:
                stamp = log.get("blockTimestamp")
                if stamp is None:
                    raise Malformed(f"no block time for block {block_number}")
                block_time = int(stamp, 16)
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
            events.extend(decoder(log, common, tokens.get(contract)))
        except (Malformed, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            result.malformed += 1
            if len(result.malformed_samples) < 5:
                where = f"{log.get('transactionHash')}#{log.get('logIndex')}" if isinstance(log, Mapping) else "?"
                result.malformed_samples.append(f"{where}: {exc}"[:300])
    return result
