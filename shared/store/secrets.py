"""Per-deployment secrets generated on first use.

Nothing secret lives in code or configuration: the first caller creates the secret (a conditional
write), and every later caller (or a racing one) reads the winner's value.

  deployment_secret   kept in the App table (the cursor signing key: forging a cursor only pages)
  parameter_secret    kept in an SSM SecureString parameter, outside the table: the identity hash key,
                      which must not sit beside the hashes it keys (a table reader could test guesses)
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import lru_cache

from botocore.exceptions import ClientError

from shared.store import dynamo


@lru_cache(maxsize=8)
def deployment_secret(table: str, pk: str, sk: str) -> bytes:
    db = dynamo.client("dynamodb")
    item_key = {"pk": {"S": pk}, "sk": {"S": sk}}
    found = db.get_item(TableName=table, Key=item_key, ConsistentRead=True).get("Item")
    if found:
        return base64.b64decode(found["secret"]["S"])
    candidate = secrets.token_bytes(32)
    try:
        db.put_item(
            TableName=table,
            Item={**item_key, "secret": {"S": base64.b64encode(candidate).decode()}},
            ConditionExpression="attribute_not_exists(pk)",
        )
        return candidate
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        found = db.get_item(TableName=table, Key=item_key, ConsistentRead=True)["Item"]
        return base64.b64decode(found["secret"]["S"])


# by (endpoint, parameter): a process that talks to more than one endpoint (tests, the local cloud) keeps them apart
_PARAMETER_SECRETS: dict[tuple[str, str], bytes] = {}


def parameter_secret(name: str, legacy_table_key: tuple[str, str, str] | None = None) -> bytes:
    """The secret in SSM parameter `name`, created on first use.

    `legacy_table_key` (table, pk, sk) names where an older deployment kept it: its value moves to the
    parameter (so existing hashes still match) and the table item is deleted.
    """
    cache_key = (os.environ.get("AWS_ENDPOINT_URL", ""), name)
    cached = _PARAMETER_SECRETS.get(cache_key)
    if cached is not None:
        return cached
    ssm = dynamo.client("ssm")
    try:
        value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ParameterNotFound":
            raise
        value = _create_parameter(name, legacy_table_key)
    secret = base64.b64decode(value)
    _PARAMETER_SECRETS[cache_key] = secret
    return secret


def _create_parameter(name: str, legacy_table_key: tuple[str, str, str] | None) -> str:
    ssm = dynamo.client("ssm")
    db = dynamo.client("dynamodb")
    legacy = None
    if legacy_table_key is not None:
        table, pk, sk = legacy_table_key
        legacy = db.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True).get("Item")
    value = legacy["secret"]["S"] if legacy else base64.b64encode(secrets.token_bytes(32)).decode()
    try:
        ssm.put_parameter(
            Name=name,
            Value=value,
            Type="SecureString",
            Overwrite=False,
            Description="Kith identity hash key (HMAC of emails and handles); see docs/security.md before rotating",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ParameterAlreadyExists":
            raise
        value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    if legacy is not None and legacy_table_key is not None:
        table, pk, sk = legacy_table_key
        db.delete_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}})
    return str(value)


def forget_parameter_secrets() -> None:
    """Drop cached parameter secrets (after a rotation, or between tests)."""
    _PARAMETER_SECRETS.clear()
