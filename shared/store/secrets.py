"""Per-deployment secrets generated on first use and kept in the App table.

Nothing secret lives in code or configuration: the first caller creates the secret with a
conditional put, and every later caller (or a racing one) reads the winner's value.
"""

from __future__ import annotations

import base64
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
