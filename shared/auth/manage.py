"""API key management: create, list and revoke keys (the CLI and the /keys routes).

Apart from shared.auth, which the authorizer imports: these need the DynamoDB SDK, verifying a key does not.
"""

from __future__ import annotations

import secrets
import time

from shared.auth import KEY_PREFIX, SCOPE_RANK, ApiKey, Scope, app_table, hash_secret
from shared.store import dynamo, keys
from shared.store.paging import query_items

__all__ = ["RevocationRefused", "create_api_key", "list_api_keys", "revoke_api_key"]


def create_api_key(name: str, scopes: list[str]) -> tuple[str, str]:
    """Create a key; returns (key id, secret). The secret is shown once and never stored."""
    parsed = [Scope(s) for s in scopes]
    if not any(s in SCOPE_RANK for s in parsed):
        raise ValueError("a key needs at least one of the scopes read, write or admin (pii only adds to them)")
    key_id = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKey(key_id=key_id, name=name, scopes=parsed, created_at=int(time.time()), last_four=secret[-4:])
    item = {
        **keys.api_key_key(hash_secret(secret)),
        **keys.api_key_list_gsi(key_id),
        **record.model_dump(mode="json"),
    }
    dynamo.client("dynamodb").put_item(
        TableName=app_table(),
        Item=dynamo.to_item(item),
        ConditionExpression="attribute_not_exists(pk)",
    )
    return key_id, secret


class RevocationRefused(Exception):
    """Revoking this key would lock the caller, or every admin, out."""


def list_api_keys() -> list[ApiKey]:
    items = query_items(
        app_table(),
        IndexName=keys.GSI1,
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.API_KEYS_PARTITION}},
    )
    return [ApiKey.model_validate(item) for item in items]


def revoke_api_key(key_id: str, revoked_by: str | None = None, keep_an_admin: bool = True) -> ApiKey | None:
    """Revoke by id; returns the revoked key, or None when no such key exists.

    Through the API a key cannot revoke itself (`revoked_by`), and the last active admin key cannot be
    revoked (`keep_an_admin`): either would leave nobody able to manage keys through the API. The CLI,
    which works on the table directly and can mint a new admin key, may.
    """
    if revoked_by is not None and revoked_by == key_id:
        raise RevocationRefused("a key cannot revoke itself; revoke it with another admin key")
    response = dynamo.client("dynamodb").query(
        TableName=app_table(),
        IndexName=keys.GSI1,
        KeyConditionExpression="gsi1pk = :p AND gsi1sk = :k",
        ExpressionAttributeValues={":p": {"S": keys.API_KEYS_PARTITION}, ":k": {"S": key_id}},
    )
    if not response["Items"]:
        return None
    item = dynamo.from_item(response["Items"][0])
    target = ApiKey.model_validate(item)
    if keep_an_admin and target.active and Scope.ADMIN in target.scopes:
        other_admins = [k for k in list_api_keys() if k.active and Scope.ADMIN in k.scopes and k.key_id != key_id]
        if not other_admins:
            raise RevocationRefused("this is the last active admin key; create another admin key first")
    now = int(time.time())
    dynamo.client("dynamodb").update_item(
        TableName=app_table(),
        Key=dynamo.to_item({keys.PK: item[keys.PK], keys.SK: item[keys.SK]}),
        UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :now)",
        ExpressionAttributeValues={":now": {"N": str(now)}},
    )
    item.setdefault("revoked_at", now)
    return ApiKey.model_validate(item)
