"""Decoding by shape, with logs as anvil returned them (recorded) and handcrafted malformed ones."""

from __future__ import annotations

from typing import Any

import pytest

from shared.chain import abi
from shared.chain.codec import event_from_item, event_to_item, event_values
from shared.chain.decode import TokenMeta, decode_logs
from shared.events import LendingEvent, Standard, TokenTransfer, VoteCast

BLOCK_HASH = "0x88437e38684630a79b850920caf711cc2d756128e9025925db047d545f30b212"
TX = "0x3db8b301ffbb0ec0348bacf34e290319705433f655a6a03a28952a5683e2ddf7"
TOKEN = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
A = "0x" + "a1" * 20
B = "0x" + "b2" * 20
C = "0x" + "c3" * 20
BIG = 2**200 + 123_456_789


def word(value: int | str) -> str:
    if isinstance(value, str):
        return value[2:].rjust(64, "0")
    return f"{value:064x}"


def topic_of(value: int | str) -> str:
    return "0x" + word(value)


def log(topics: list[str], data: str = "0x", index: int = 0, block: int = 8, address: str = TOKEN) -> dict[str, Any]:
    return {
        "address": address,
        "topics": topics,
        "data": data,
        "blockNumber": hex(block),
        "blockHash": BLOCK_HASH,
        "transactionHash": TX,
        "transactionIndex": "0x0",
        "logIndex": hex(index),
        "removed": False,
    }


TIMES = {8: 1_795_357_270}


def decode_one(entry: dict[str, Any], meta: TokenMeta | None = None) -> list[Any]:
    result = decode_logs(31337, [entry], TIMES, {TOKEN: meta} if meta else None)
    assert result.malformed == 0, result.malformed_samples
    return result.events


def test_erc20_transfer_recorded_from_anvil() -> None:
    # Given a Transfer log exactly as anvil returned it for a mint of 5e18
    recorded = {
        "address": TOKEN,
        "topics": [
            "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
            "0x0000000000000000000000000000000000000000000000000000000000000000",
            "0x000000000000000000000000a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
        ],
        "data": "0x0000000000000000000000000000000000000000000000004563918244f40000",
        "blockHash": BLOCK_HASH,
        "blockNumber": "0x8",
        "blockTimestamp": "0x6afd0d56",
        "transactionHash": TX,
        "transactionIndex": "0x0",
        "logIndex": "0x0",
        "removed": False,
    }
    # When it is decoded with the token's metadata
    (event,) = decode_one(recorded, TokenMeta("Kith Token", "KITH", 18))
    # Then it is an exact ERC-20 transfer from the zero address
    assert event == TokenTransfer(
        chain_id=31337,
        block_number=8,
        block_hash=BLOCK_HASH,
        block_time=1_795_357_270,
        tx_hash=TX,
        log_index=0,
        contract=TOKEN,
        standard=Standard.ERC20,
        from_address="0x" + "00" * 20,
        to_address=A,
        amount=5 * 10**18,
        decimals=18,
        symbol="KITH",
    )


def test_erc20_amount_above_2_pow_200_is_exact() -> None:
    (event,) = decode_one(log([abi.TRANSFER, topic_of(A), topic_of(B)], "0x" + word(BIG)))
    assert event.amount == BIG
    assert event.standard is Standard.ERC20


def test_erc721_transfer_by_shape() -> None:
    token_id = 2**255 + 1
    (event,) = decode_one(
        log([abi.TRANSFER, topic_of(A), topic_of(B), topic_of(token_id)]), TokenMeta("C", "FIXC", None)
    )
    assert (event.standard, event.token_id, event.amount, event.decimals, event.symbol) == (
        Standard.ERC721,
        token_id,
        1,
        None,
        "FIXC",
    )


def test_erc1155_single_and_batch() -> None:
    operator = topic_of(C)
    single = log([abi.TRANSFER_SINGLE, operator, topic_of(0), topic_of(A)], "0x" + word(7) + word(2**201))
    (event,) = decode_one(single)
    assert (event.standard, event.token_id, event.amount, event.from_address) == (
        Standard.ERC1155,
        7,
        2**201,
        "0x" + "00" * 20,
    )
    ids, values = [1, 2, 3], [10, 2**210, 30]
    data = (
        "0x" + word(64) + word(64 + 32 * 4) + word(3) + "".join(map(word, ids)) + word(3) + "".join(map(word, values))
    )
    events = decode_one(log([abi.TRANSFER_BATCH, operator, topic_of(A), topic_of(B)], data, index=4))
    assert [(e.sub_index, e.token_id, e.amount) for e in events] == [(0, 1, 10), (1, 2, 2**210), (2, 3, 30)]
    assert len({e.event_id for e in events}) == 3


def _vote_data(proposal: int, support: int, weight: int, reason: str, params: bytes | None = None) -> str:
    encoded = reason.encode()
    padded = encoded.hex().ljust(((len(encoded) + 31) // 32) * 64, "0")
    head_words = 5 if params is not None else 4
    reason_part = word(len(encoded)) + padded
    head = word(proposal) + word(support) + word(weight) + word(32 * head_words)
    if params is None:
        return "0x" + head + reason_part
    params_offset = 32 * head_words + len(reason_part) // 2
    params_part = word(len(params)) + params.hex().ljust(64, "0")
    return "0x" + head + word(params_offset) + reason_part + params_part


def test_vote_cast_and_with_params() -> None:
    voter = topic_of(A)
    (vote,) = decode_one(log([abi.VOTE_CAST, voter], _vote_data(42, 1, 2**220, "for \u2713")))
    assert vote == VoteCast(
        chain_id=31337,
        block_number=8,
        block_hash=BLOCK_HASH,
        block_time=TIMES[8],
        tx_hash=TX,
        log_index=0,
        contract=TOKEN,
        standard=Standard.GOVERNOR,
        voter=A,
        proposal_id=42,
        support=1,
        weight=2**220,
        reason="for \u2713",
    )
    (with_params,) = decode_one(log([abi.VOTE_CAST_WITH_PARAMS, voter], _vote_data(43, 0, 5, "", b"\x01")))
    assert (with_params.proposal_id, with_params.support, with_params.reason) == (43, 0, "")


@pytest.mark.parametrize(
    ("topics", "data", "expected"),
    [
        ([abi.SUPPLY, topic_of(C), topic_of(A), topic_of(0)], word(B) + word(BIG), ("supply", C, A, BIG)),
        ([abi.WITHDRAW, topic_of(C), topic_of(A), topic_of(B)], word(11), ("withdraw", C, A, 11)),
        (
            [abi.BORROW, topic_of(C), topic_of(A), topic_of(0)],
            word(B) + word(12) + word(2) + word(3),
            ("borrow", C, A, 12),
        ),
        ([abi.REPAY, topic_of(C), topic_of(A), topic_of(B)], word(13) + word(0), ("repay", C, A, 13)),
        ([abi.COLLATERAL_ENABLED, topic_of(C), topic_of(A)], "", ("collateral_enabled", C, A, 0)),
        ([abi.COLLATERAL_DISABLED, topic_of(C), topic_of(A)], "", ("collateral_disabled", C, A, 0)),
    ],
)
def test_lending_events(topics: list[str], data: str, expected: tuple[str, str, str, int]) -> None:
    (event,) = decode_one(log(topics, "0x" + data))
    assert isinstance(event, LendingEvent)
    assert (event.action, event.reserve, event.user, event.amount) == expected


def test_liquidation_and_reserve_data() -> None:
    data = "0x" + word(14) + word(15) + word(B) + word(0)
    (liq,) = decode_one(log([abi.LIQUIDATION_CALL, topic_of(C), topic_of(B), topic_of(A)], data))
    assert (liq.action, liq.reserve, liq.collateral_asset, liq.user, liq.amount, liq.liquidated_collateral) == (
        "liquidation",
        B,
        C,
        A,
        14,
        15,
    )
    assert liq.liquidator == B
    rates = "0x" + word(10**27) + word(0) + word(2 * 10**26) + word(10**27) + word(10**27)
    (upd,) = decode_one(log([abi.RESERVE_DATA_UPDATED, topic_of(C)], rates))
    assert (upd.action, upd.liquidity_rate, upd.variable_borrow_rate, upd.user) == (
        "reserve_data_updated",
        10**27,
        2 * 10**26,
        "0x" + "00" * 20,
    )


MALFORMED = [
    log([abi.TRANSFER, topic_of(A)], "0x" + word(7)),  # 2 topics
    log([abi.TRANSFER, topic_of(A), topic_of(B)], "0x" + word(7)[:40]),  # short data
    log([abi.TRANSFER, topic_of(A), topic_of(B), topic_of(1)], "0x" + word(1)),  # 4 topics with data
    log([abi.TRANSFER, "0x" + "ff" * 32, topic_of(B)], "0x" + word(1)),  # dirty address word
    log([abi.TRANSFER_BATCH, topic_of(C), topic_of(A), topic_of(B)], "0x" + word(64) + word(96) + word(1)),
    log([abi.VOTE_CAST, topic_of(A)], "0x" + word(1) + word(999) + word(1) + word(128)),  # support > uint8
    log([abi.VOTE_CAST, topic_of(A)], "0x" + word(1) + word(1) + word(1) + word(10_000)),  # offset beyond data
    log([abi.TRANSFER, topic_of(A), topic_of(B)], "0xzz" + word(1)[2:]),  # not hex
    {"topics": [abi.TRANSFER]},  # missing fields
]


def test_malformed_logs_are_counted_and_skipped() -> None:
    good = log([abi.TRANSFER, topic_of(A), topic_of(B)], "0x" + word(5), index=99)
    result = decode_logs(31337, [*MALFORMED, good], TIMES)
    assert result.malformed == len(MALFORMED)
    assert [e.amount for e in result.events] == [5]
    assert result.malformed_samples


def test_logs_of_no_known_shape_are_ignored_not_malformed() -> None:
    # Given an Approval, an anonymous event and a log whose topic0 is not even a string, beside a transfer
    approval = log(["0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925", topic_of(A), topic_of(B)])
    garbage = {**log([topic_of(A)]), "topics": [7, topic_of(A)]}
    good = log([abi.TRANSFER, topic_of(A), topic_of(B)], "0x" + word(5), index=99)

    # When they are decoded
    result = decode_logs(31337, [approval, log([], "0x"), garbage, good], TIMES)

    # Then the two logs Kith has no shape for are ignored, the garbage is malformed, the transfer decoded
    assert (result.ignored, result.malformed, [e.amount for e in result.events]) == (2, 1, [5])


def test_block_time_falls_back_to_log_timestamp_else_malformed() -> None:
    entry = log([abi.TRANSFER, topic_of(A), topic_of(B)], "0x" + word(5), block=9)
    assert decode_logs(1, [entry], TIMES).malformed == 1
    entry["blockTimestamp"] = "0x10"
    assert decode_logs(1, [entry], TIMES).events[0].block_time == 16


def test_codec_round_trip_typed_and_plain() -> None:
    data = "0x" + word(64) + word(128) + word(1) + word(2**255) + word(1) + word(BIG)
    events = [
        *decode_one(log([abi.TRANSFER, topic_of(A), topic_of(B)], "0x" + word(BIG)), TokenMeta("K", "KITH", 18)),
        *decode_one(log([abi.TRANSFER_BATCH, topic_of(C), topic_of(A), topic_of(B)], data, index=3)),
        *decode_one(log([abi.VOTE_CAST, topic_of(A)], _vote_data(2**250, 2, 7, "why")), None),
        *decode_one(
            log(
                [abi.LIQUIDATION_CALL, topic_of(C), topic_of(B), topic_of(A)],
                "0x" + word(14) + word(BIG) + word(B) + word(0),
            )
        ),
    ]
    for event in events:
        item = event_to_item(event)
        assert item["kind"] == {"S": event.kind}
        assert item["pk"]["S"].startswith("EVT#31337#")
        assert event_from_item(item) == event
        assert event_from_item(event_values(event)) == event
    assert events[0].amount == BIG and event_to_item(events[0])["amount"] == {"S": str(BIG)}


def test_constructed_transfers_are_exactly_the_validated_models() -> None:
    # Given transfers of every shape, some with upper-case hex as some nodes return it
    from decimal import Decimal

    data = "0x" + word(64) + word(160) + word(2) + word(1) + word(2**255) + word(2) + word(BIG) + word(3)
    entries = [
        log([abi.TRANSFER, topic_of(A), topic_of(B)], "0x" + word(BIG)),
        log([abi.TRANSFER.upper().replace("0X", "0x"), topic_of(A).upper(), topic_of(B)], "0x" + word(5), index=1),
        log([abi.TRANSFER, topic_of(A), topic_of(B), topic_of(2**256 - 1)], index=2),
        log([abi.TRANSFER_SINGLE, topic_of(C), topic_of(A), topic_of(B)], "0x" + word(7) + word(2**201), index=3),
        log([abi.TRANSFER_BATCH, topic_of(C), topic_of(A), topic_of(B)], data, index=4),
    ]
    entries[1]["blockHash"] = BLOCK_HASH.upper().replace("0X", "0x")
    entries[1]["address"] = TOKEN.upper().replace("0X", "0x")
    # metadata as DynamoDB hands it back: decimals as a Decimal
    result = decode_logs(31337, entries, TIMES, {TOKEN: TokenMeta("K", "KITH", Decimal(18))})  # type: ignore[arg-type]
    assert result.malformed == 0, result.malformed_samples
    assert len(result.events) == 6
    for event in result.events:
        # When each is checked against full pydantic validation of its own fields
        validated = TokenTransfer.model_validate(event.model_dump())
        # Then values, types, field order and pydantic's bookkeeping all agree
        assert event == validated and hash(event) == hash(validated)
        assert list(event.__dict__.items()) == list(validated.__dict__.items())
        assert [type(v) for v in event.__dict__.values()] == [type(v) for v in validated.__dict__.values()]
        assert event.model_dump(mode="json") == validated.model_dump(mode="json")
        assert event.contract == TOKEN and event.block_hash == BLOCK_HASH and event.from_address == A
        assert event_from_item(event_to_item(event)) == event
    first = result.events[0]
    assert (first.decimals, type(first.decimals), first.amount) == (18, int, BIG)
    with pytest.raises(ValueError):
        first.amount = 1  # type: ignore[misc]  # still frozen
    copied = first.model_copy(update={"amount": 2})
    assert copied.amount == 2 and first.amount == BIG
    assert "amount" in first.__pydantic_fields_set__ and result.events[1].model_fields_set == first.model_fields_set


def test_token_metadata_the_model_would_refuse_makes_that_tokens_transfers_malformed() -> None:
    entry = log([abi.TRANSFER, topic_of(A), topic_of(B)], "0x" + word(5))
    result = decode_logs(31337, [entry], TIMES, {TOKEN: TokenMeta("K", "KITH", "eighteen")})  # type: ignore[arg-type]
    assert (result.malformed, result.events) == (1, [])
