"""The IAM requests AWS authorises for one API call: action, resource ARN and the condition keys.

Resources carry the physical names the local cloud deployed; condition keys are the partition key
values as `dynamodb:LeadingKeys` and the sender as `ses:FromAddress`. infra.localcloud.calls records
every call of a run through derive().
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr
from typing import Any

from infra.localcloud.functions import ACCOUNT_ID

# The condition keys derive() supplies; a policy conditioned on any other key needs it taught here.
CONTEXT_KEYS = frozenset({"dynamodb:LeadingKeys", "ses:FromAddress", "ses:FromDisplayName", "ses:Recipients"})

ContextValue = str | tuple[str, ...]


class Underivable(ValueError):
    """A call this module cannot turn into IAM requests; the message names what is missing."""


@dataclass(frozen=True, order=True)
class IamRequest:
    action: str
    resource: str
    context: tuple[tuple[str, ContextValue], ...] = ()

    def context_dict(self) -> dict[str, str | list[str]]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.context}


def derive(
    service: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    region: str,
    key_schema: Callable[[str], dict[str | None, str]],
    stream_arn: str | None = None,
) -> list[IamRequest]:
    """The IAM requests AWS authorises for one API call (several for a transaction or a multi-table batch).

    `key_schema(table)` answers {None: partition key attribute, index: its partition key attribute}.
    """
    if service == "dynamodb":
        return _dynamodb(operation, params, region, key_schema)
    if service == "dynamodbstreams":
        return _streams(operation, params, stream_arn)
    if service == "sqs":
        return _sqs(operation, params, region)
    if service in ("ses", "sesv2"):
        return _ses(service, operation, params, region)
    if service == "ssm":
        return _ssm(operation, params, region)
    if service == "events":
        return _events(operation, params, region)
    raise Underivable(f"no IAM mapping for {service}:{operation}")


def _table_arn(region: str, table: str, index: str | None = None) -> str:
    base = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table}"
    return f"{base}/index/{index}" if index else base


def _scalar(value: Any) -> str:
    """A key attribute's value as IAM sees it: typed ({"S": ...}) from the client, plain from a resource."""
    if isinstance(value, dict) and len(value) == 1:
        ((kind, inner),) = value.items()
        if kind in ("S", "N", "B"):
            return inner.decode() if isinstance(inner, bytes) else str(inner)
    return value.decode() if isinstance(value, bytes) else str(value)


def _leading(values: list[str] | set[str]) -> tuple[tuple[str, ContextValue], ...]:
    return (("dynamodb:LeadingKeys", tuple(sorted(set(values)))),)


def _item_key(item: Mapping[str, Any], attribute: str, what: str) -> str:
    if attribute not in item:
        raise Underivable(f"{what} has no partition key {attribute}")
    return _scalar(item[attribute])


def _query_partition_value(params: Mapping[str, Any], attribute: str) -> str:
    """The partition key value a Query asks for: its KeyConditionExpression's `attribute = :value`."""
    conditions = params.get("KeyConditions")
    if conditions:
        condition = conditions.get(attribute)
        if condition is None or condition.get("ComparisonOperator") != "EQ":
            raise Underivable(f"KeyConditions has no EQ on {attribute}")
        return _scalar(condition["AttributeValueList"][0])
    expression = params.get("KeyConditionExpression")
    if not isinstance(expression, str):
        raise Underivable("a Query without a KeyConditionExpression")
    names = params.get("ExpressionAttributeNames", {})
    values = params.get("ExpressionAttributeValues", {})
    for left, right in re.findall(r"([#:]?[\w.\-]+)\s*=\s*([#:]?[\w.\-]+)", expression):
        for name, value in ((left, right), (right, left)):
            resolved = names.get(name, name)
            if resolved == attribute and value.startswith(":"):
                return _scalar(values[value])
    raise Underivable(f"cannot find {attribute} = :value in {expression!r}")


_TRANSACT_WRITE = {
    "Put": ("PutItem", "Item"),
    "Update": ("UpdateItem", "Key"),
    "Delete": ("DeleteItem", "Key"),
    "ConditionCheck": ("ConditionCheckItem", "Key"),
}
_SINGLE_ITEM = {"GetItem": "Key", "PutItem": "Item", "UpdateItem": "Key", "DeleteItem": "Key"}
_TABLE_ONLY = {"DescribeTable", "DescribeTimeToLive", "DescribeContinuousBackups", "ListTagsOfResource"}


def _dynamodb(operation: str, params: Mapping[str, Any], region: str, key_schema: Any) -> list[IamRequest]:
    if operation in _SINGLE_ITEM:
        table = params["TableName"]
        pk = _item_key(params[_SINGLE_ITEM[operation]], key_schema(table)[None], operation)
        return [IamRequest(f"dynamodb:{operation}", _table_arn(region, table), _leading([pk]))]
    if operation == "Query":
        table, index = params["TableName"], params.get("IndexName")
        schema = key_schema(table)
        if index not in schema:
            raise Underivable(f"table {table} has no index {index}")
        pk = _query_partition_value(params, schema[index])
        return [IamRequest("dynamodb:Query", _table_arn(region, table, index), _leading([pk]))]
    if operation == "Scan":
        # a Scan names no partition: AWS supplies no dynamodb:LeadingKeys for it
        return [IamRequest("dynamodb:Scan", _table_arn(region, params["TableName"], params.get("IndexName")))]
    if operation == "BatchGetItem":
        found = []
        for table, wanted in params["RequestItems"].items():
            attribute = key_schema(table)[None]
            keys = [_item_key(k, attribute, "BatchGetItem") for k in wanted["Keys"]]
            found.append(IamRequest("dynamodb:BatchGetItem", _table_arn(region, table), _leading(keys)))
        return found
    if operation == "BatchWriteItem":
        found = []
        for table, writes in params["RequestItems"].items():
            attribute = key_schema(table)[None]
            keys = []
            for write in writes:
                if "PutRequest" in write:
                    keys.append(_item_key(write["PutRequest"]["Item"], attribute, "BatchWriteItem put"))
                else:
                    keys.append(_item_key(write["DeleteRequest"]["Key"], attribute, "BatchWriteItem delete"))
            found.append(IamRequest("dynamodb:BatchWriteItem", _table_arn(region, table), _leading(keys)))
        return found
    if operation == "TransactWriteItems":
        # there is no TransactWriteItems action: AWS authorises each item as its own write
        found = []
        for entry in params["TransactItems"]:
            ((kind, body),) = entry.items()
            action, field = _TRANSACT_WRITE[kind]
            table = body["TableName"]
            pk = _item_key(body[field], key_schema(table)[None], f"TransactWriteItems {kind}")
            found.append(IamRequest(f"dynamodb:{action}", _table_arn(region, table), _leading([pk])))
        return found
    if operation == "TransactGetItems":
        found = []
        for entry in params["TransactItems"]:
            body = entry["Get"]
            table = body["TableName"]
            pk = _item_key(body["Key"], key_schema(table)[None], "TransactGetItems")
            found.append(IamRequest("dynamodb:GetItem", _table_arn(region, table), _leading([pk])))
        return found
    if operation in _TABLE_ONLY:
        table = params.get("TableName") or str(params.get("ResourceArn", "")).rsplit("/", 1)[-1]
        return [IamRequest(f"dynamodb:{operation}", _table_arn(region, table))]
    raise Underivable(f"no IAM mapping for dynamodb:{operation}")


def _streams(operation: str, params: Mapping[str, Any], stream_arn: str | None) -> list[IamRequest]:
    if operation in ("DescribeStream", "GetShardIterator"):
        return [IamRequest(f"dynamodb:{operation}", str(params["StreamArn"]))]
    if operation == "GetRecords":
        # a shard iterator is opaque: the stream is the one the calling poller reads
        if stream_arn is None:
            raise Underivable("GetRecords outside a stream poller: its stream is unknown")
        return [IamRequest("dynamodb:GetRecords", stream_arn)]
    if operation == "ListStreams":
        return [IamRequest("dynamodb:ListStreams", "*")]
    raise Underivable(f"no IAM mapping for dynamodbstreams:{operation}")


def _queue_arn(region: str, url: str) -> str:
    return f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{url.rstrip('/').rsplit('/', 1)[-1]}"


def _sqs(operation: str, params: Mapping[str, Any], region: str) -> list[IamRequest]:
    if operation == "GetQueueUrl":
        return [IamRequest("sqs:GetQueueUrl", f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{params['QueueName']}")]
    if "QueueUrl" not in params:
        raise Underivable(f"sqs:{operation} names no queue")
    # a batch is authorised as its single-message action
    action = operation.removesuffix("Batch")
    return [IamRequest(f"sqs:{action}", _queue_arn(region, str(params["QueueUrl"])))]


def _ses(service: str, operation: str, params: Mapping[str, Any], region: str) -> list[IamRequest]:
    if operation not in ("SendEmail", "SendRawEmail"):
        raise Underivable(f"no IAM mapping for {service}:{operation}")
    sender = params.get("FromEmailAddress") if service == "sesv2" else params.get("Source")
    if not sender:
        raise Underivable(f"{service}:{operation} names no sender")
    display, address = parseaddr(str(sender))
    destination = params.get("Destination", {})
    recipients = [a for _, a in getaddresses([str(r) for k in destination for r in destination[k]]) if a]
    context: list[tuple[str, ContextValue]] = [("ses:FromAddress", address)]
    if display:
        context.append(("ses:FromDisplayName", display))
    if recipients:
        context.append(("ses:Recipients", tuple(sorted(set(recipients)))))
    # SES authorises the identity it sends as: the address when it is verified itself (as locally),
    # else its domain; an identity ARN given explicitly wins
    identity = params.get("FromEmailAddressIdentityArn") or f"arn:aws:ses:{region}:{ACCOUNT_ID}:identity/{address}"
    found = [IamRequest("ses:SendEmail" if service == "sesv2" else f"ses:{operation}", identity, tuple(context))]
    configuration_set = params.get("ConfigurationSetName")
    if configuration_set:
        arn = f"arn:aws:ses:{region}:{ACCOUNT_ID}:configuration-set/{configuration_set}"
        found.append(IamRequest(found[0].action, arn, tuple(context)))
    return found


def _parameter_arn(region: str, name: str) -> str:
    # a hierarchical name keeps its leading slash as the ARN's separator
    return f"arn:aws:ssm:{region}:{ACCOUNT_ID}:parameter{name if name.startswith('/') else '/' + name}"


def _ssm(operation: str, params: Mapping[str, Any], region: str) -> list[IamRequest]:
    if operation in ("GetParameter", "PutParameter", "DeleteParameter", "GetParameterHistory", "LabelParameterVersion"):
        return [IamRequest(f"ssm:{operation}", _parameter_arn(region, str(params["Name"])))]
    if operation in ("GetParameters", "DeleteParameters"):
        return [IamRequest(f"ssm:{operation}", _parameter_arn(region, str(n))) for n in params["Names"]]
    if operation == "GetParametersByPath":
        return [IamRequest("ssm:GetParametersByPath", _parameter_arn(region, str(params["Path"])))]
    raise Underivable(f"no IAM mapping for ssm:{operation}")


def _events(operation: str, params: Mapping[str, Any], region: str) -> list[IamRequest]:
    if operation != "PutEvents":
        raise Underivable(f"no IAM mapping for events:{operation}")
    buses = set()
    for entry in params["Entries"]:
        bus = str(entry.get("EventBusName") or "default")
        buses.add(bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{ACCOUNT_ID}:event-bus/{bus}")
    return [IamRequest("events:PutEvents", bus) for bus in sorted(buses)]
