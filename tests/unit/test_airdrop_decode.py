"""A Merkle distributor's Claimed logs: decoded by shape, malformed ones counted, stored and read back."""

from __future__ import annotations

from shared.chain import abi
from shared.chain.codec import event_from_item, event_to_item
from shared.chain.decode import decode_logs
from shared.events import AirdropClaim, Standard
from tests.unit.test_decode import BIG, TIMES, A, log, topic_of, word

DISTRIBUTOR = "0x" + "d4" * 20


def test_a_claim_names_the_account_and_the_exact_amount() -> None:
    result = decode_logs(31337, [log([abi.CLAIMED, topic_of(A)], "0x" + word(BIG), address=DISTRIBUTOR)], TIMES)
    assert (result.malformed, result.ignored) == (0, 0)
    (claim,) = result.events
    assert isinstance(claim, AirdropClaim)
    assert (claim.account, claim.amount, claim.contract, claim.standard) == (
        A,
        BIG,
        DISTRIBUTOR,
        Standard.MERKLE_DISTRIBUTOR,
    )
    assert event_from_item(event_to_item(claim)) == claim


def test_claims_of_the_wrong_shape_are_malformed_and_unknown_topics_ignored() -> None:
    dirty = "0x" + "ff" * 12 + A[2:]
    logs = [
        log([abi.CLAIMED], "0x" + word(1) + word(A), address=DISTRIBUTOR),  # account not indexed
        log([abi.CLAIMED, topic_of(A)], "0x", address=DISTRIBUTOR),  # no amount
        log([abi.CLAIMED, topic_of(A)], "0x" + word(1) + word(2), address=DISTRIBUTOR),  # a word too many
        log([abi.CLAIMED, dirty], "0x" + word(1), address=DISTRIBUTOR),  # not an address
        log([abi.topic("Claimed(uint256,address,uint256)"), topic_of(A)], "0x" + word(1), address=DISTRIBUTOR),
    ]
    result = decode_logs(31337, logs, TIMES)
    assert (result.malformed, result.ignored, result.events) == (4, 1, [])


def test_the_distributor_standard_asks_for_the_claimed_topic() -> None:
    assert abi.TOPICS_BY_STANDARD[Standard.MERKLE_DISTRIBUTOR] == (abi.CLAIMED,)
