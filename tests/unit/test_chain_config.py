"""A chain's config: every_token is an explicit opt-in that excludes a contract list, start_block places the
first cursor, and seeds that use neither keep their digest."""

from __future__ import annotations

import hashlib
import json

import pytest
from pydantic import ValidationError

from shared.chain import abi
from shared.chain.bloom import BloomFilter, bloom_bits, hex_item
from shared.events import Standard
from shared.settings import ChainConfig, ConfigError, TrackedContract, settings_from_env
from shared.tracking import seed_digest

TOKEN = "0x" + "c0" * 20
OTHER = "0x" + "d0" * 20


def _chain(**values: object) -> ChainConfig:
    return ChainConfig.model_validate({"chain_id": 31337, "rpc_url": "http://127.0.0.1:8545", **values})


def test_a_chain_reads_no_token_unless_it_opts_in_and_starts_at_block_zero() -> None:
    chain = _chain()
    assert (chain.every_token, chain.start_block, chain.contracts, chain.first_block) == (False, 0, [], 0)


def test_every_token_starts_at_the_chain_start_block() -> None:
    assert _chain(every_token=True, start_block=1234).first_block == 1234


def test_with_contracts_the_first_block_is_the_later_of_the_chain_start_and_the_earliest_contract() -> None:
    contracts = [
        {"address": TOKEN, "standard": "erc20", "start_block": 50},
        {"address": OTHER, "standard": "erc721", "start_block": 70},
    ]
    assert _chain(contracts=contracts).first_block == 50
    assert _chain(contracts=contracts, start_block=60).first_block == 60
    assert _chain(contracts=contracts, start_block=10).first_block == 50


def test_every_token_with_a_contract_list_is_refused_naming_every_token() -> None:
    with pytest.raises(ValidationError) as raised:
        _chain(every_token=True, contracts=[{"address": TOKEN, "standard": "erc20"}])
    message = str(raised.value)
    assert "every_token" in message and "contract list" in message


@pytest.mark.parametrize("start_block", [-1, 2**63, "soon"])
def test_a_start_block_that_is_no_block_number_is_refused(start_block: object) -> None:
    with pytest.raises(ValidationError) as raised:
        _chain(every_token=True, start_block=start_block)
    assert raised.value.errors()[0]["loc"] == ("start_block",)


def test_a_contradictory_kith_chains_fails_the_cold_start_with_the_chain_and_the_reason() -> None:
    chains = [
        {
            "chain_id": 1,
            "rpc_url": "http://x",
            "every_token": True,
            "contracts": [{"address": TOKEN, "standard": "erc20"}],
        }
    ]
    with pytest.raises(ConfigError) as raised:
        settings_from_env({"KITH_CHAINS": json.dumps(chains)})
    assert str(raised.value).startswith("setting chains.0:") and "every_token" in str(raised.value)


def test_a_kith_chains_with_every_token_and_a_start_block_is_read_as_given() -> None:
    chains = [{"chain_id": 1, "rpc_url": "http://x", "every_token": True, "start_block": 99}]
    chain = settings_from_env({"KITH_CHAINS": json.dumps(chains)}).chain(1)
    assert (chain.every_token, chain.start_block, chain.first_block) == (True, 99, 99)


def test_a_seed_that_uses_neither_new_setting_keeps_the_digest_of_its_fields() -> None:
    chain = _chain(contracts=[TrackedContract(address=TOKEN, standard=Standard.ERC20, start_block=5)])
    values = chain.model_dump(mode="json")
    del values["every_token"], values["start_block"]
    unchanged = hashlib.sha256(json.dumps([values], sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert seed_digest([chain]) == unchanged
    assert seed_digest([chain.model_copy(update={"start_block": 5})]) != unchanged
    assert seed_digest([_chain(every_token=True)]) != seed_digest([_chain()])


def _bloom_of(address: str, topic: str) -> str:
    return hex(bloom_bits(hex_item(address)) | bloom_bits(hex_item(topic)))


def test_a_bloom_of_any_address_admits_every_emitter_of_a_tracked_topic_only() -> None:
    every_token = BloomFilter(None, [abi.TRANSFER, abi.TRANSFER_SINGLE, abi.TRANSFER_BATCH])
    assert every_token.may_contain(_bloom_of(TOKEN, abi.TRANSFER))
    assert every_token.may_contain(_bloom_of(OTHER, abi.TRANSFER_BATCH))
    assert not every_token.may_contain(_bloom_of(TOKEN, abi.VOTE_CAST))
    # an empty address list still admits nothing: a chain without contracts reads nothing
    assert not BloomFilter([], [abi.TRANSFER]).may_contain(_bloom_of(TOKEN, abi.TRANSFER))
