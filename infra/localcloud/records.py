"""Lambda event records shaped exactly like AWS's: DynamoDB stream and SQS records, and partial batch responses."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any


def _wire_attribute(value: Any) -> Any:
    """botocore decodes binary attributes to bytes; Lambda events carry them base64-encoded."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: _wire_attribute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire_attribute(v) for v in value]
    return value


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)


def stream_lambda_record(raw: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record in the shape Lambda delivers it (eventVersion 1.1, epoch-second times)."""
    source = raw["dynamodb"]
    body: dict[str, Any] = {}
    if "ApproximateCreationDateTime" in source:
        body["ApproximateCreationDateTime"] = int(_epoch(source["ApproximateCreationDateTime"]))
    for key in ("Keys", "NewImage", "OldImage"):
        if key in source:
            body[key] = _wire_attribute(source[key])
    body["SequenceNumber"] = str(source["SequenceNumber"])
    body["SizeBytes"] = int(source.get("SizeBytes", 0))
    body["StreamViewType"] = source.get("StreamViewType", "NEW_AND_OLD_IMAGES")
    record: dict[str, Any] = {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in raw:  # TTL deletions
        record["userIdentity"] = raw["userIdentity"]
    return record


def sqs_lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = {k: str(v) for k, v in (message.get("Attributes") or {}).items()}
    message_attributes: dict[str, Any] = {}
    for name, attr in (message.get("MessageAttributes") or {}).items():
        converted: dict[str, Any] = {
            "stringListValues": list(attr.get("StringListValues", [])),
            "binaryListValues": [_wire_attribute(v) for v in attr.get("BinaryListValues", [])],
            "dataType": attr["DataType"],
        }
        if "StringValue" in attr:
            converted["stringValue"] = attr["StringValue"]
        if "BinaryValue" in attr:
            converted["binaryValue"] = _wire_attribute(attr["BinaryValue"])
        message_attributes[name] = converted
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def sqs_filter_view(record: dict[str, Any]) -> dict[str, Any]:
    # Lambda matches a JSON body field by field; a body that is not JSON is matched as a plain string
    try:
        body = json.loads(record["body"])
    except (json.JSONDecodeError, TypeError):
        body = record["body"]
    return {**record, "body": body}


def iso_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def failed_index(response: Any, identifiers: list[str], report_failures: bool) -> int | None:
    """Where a batch failed: None for success, 0 for the whole batch, k for 'retry from record k'."""
    if not report_failures or not isinstance(response, dict) or "batchItemFailures" not in response:
        return None
    failures = response["batchItemFailures"]
    if failures is None or failures == []:
        return None
    if not isinstance(failures, list):
        return 0
    positions: list[int] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        # an identifier that is missing, empty or unknown makes Lambda treat the whole batch as failed
        if not identifier or identifier not in identifiers:
            return 0
        positions.append(identifiers.index(identifier))
    return min(positions)


# ----------------------------------------------------------------------------- pollers


def all_identifiers_valid(response: dict[str, Any], identifiers: list[str]) -> bool:
    failures = response.get("batchItemFailures")
    if not isinstance(failures, list):
        return False
    return all(isinstance(f, dict) and f.get("itemIdentifier") in identifiers for f in failures)
