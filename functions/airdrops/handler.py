"""Keeps the claims of tracked Merkle distributors from the Events stream (a REMOVE takes one back)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.airdrops.claims import apply_images
from shared.settings import Needs
from shared.tracing import observability, observed

logger, tracer, metrics = observability()
NEEDS = Needs("app_table")


@observed(logger, tracer, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # a claim's put and its rollback's delete touch only that claim's own item, so a failed batch is
    # retried whole: nothing in it can be applied twice
    records = event["Records"]
    images = ((r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in records)
    applied = apply_images(images, NEEDS.settings())
    metrics.add_metric(name="AirdropClaims", unit=MetricUnit.Count, value=applied.inserted)
    metrics.add_metric(name="AirdropClaimsRolledBack", unit=MetricUnit.Count, value=applied.removed)
    logger.info("claims batch", extra={"inserted": applied.inserted, "removed": applied.removed})
    return {"batchItemFailures": []}
