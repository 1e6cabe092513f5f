"""Operator tags on wallets. Each tag is its own item, so adding one never races a profile write,
and the segments function (whose stream filter selects TAG# keys) re-evaluates the wallet."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.paging import query_items

TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,63}$")
TAG_RULE = "1-64 characters: letters, digits, space, _ . : -, starting with a letter or digit"
MAX_TAGS_PER_WALLET = 50


class TagError(ValueError):
    pass


def valid_tag(tag: str) -> str:
    if not TAG.match(tag) or tag != tag.strip():
        raise TagError(f"tag {tag!r} is not valid: {TAG_RULE}")
    return tag


def wallet_tags(address: str, settings: Settings) -> list[str]:
    items = query_items(
        settings.app_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :t)",
        ExpressionAttributeValues=dynamo.to_item({":pk": keys.wallet_pk(address), ":t": keys.TAG_PREFIX}),
        ProjectionExpression="sk",
        ConsistentRead=True,
    )
    return sorted(keys.tag_of(i["sk"]) for i in items)


def add_tags(address: str, tags: Iterable[str], settings: Settings) -> list[str]:
    """Idempotent: tagging twice changes nothing. Returns the wallet's tags afterwards."""
    address = address.lower()
    wanted = sorted({valid_tag(t) for t in tags})
    current = wallet_tags(address, settings)
    new = [t for t in wanted if t not in current]
    if len(current) + len(new) > MAX_TAGS_PER_WALLET:
        raise TagError(f"a wallet carries at most {MAX_TAGS_PER_WALLET} tags; remove some first")
    puts: list[dict[str, Any]] = [
        {**dynamo.to_item(keys.tag_key(address, t)), **dynamo.to_item(keys.tagged_gsi(t, address))} for t in new
    ]
    dynamo.batch_write(settings.app_table, puts=puts)
    return sorted(current + new)


def remove_tag(address: str, tag: str, settings: Settings) -> bool:
    """True when the wallet carried the tag."""
    response = dynamo.client("dynamodb").delete_item(
        TableName=settings.app_table, Key=dynamo.to_item(keys.tag_key(address.lower(), tag)), ReturnValues="ALL_OLD"
    )
    return "Attributes" in response
