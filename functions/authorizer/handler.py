"""REQUEST authorizer: a Bearer API key in, an IAM policy for its scopes out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.auth import AuthError, authenticate, bearer_secret, hash_secret, policy_for

logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    secret = bearer_secret(event.get("headers") or {})
    if secret is None:
        metrics.add_metric(name="AuthMissingKey", unit=MetricUnit.Count, value=1)
        # API Gateway maps this exact message to a 401
        raise Exception("Unauthorized")
    try:
        key = authenticate(secret)
    except AuthError as exc:
        logger.info("rejected API key", extra={"reason": str(exc)})
        metrics.add_metric(name="AuthRejected", unit=MetricUnit.Count, value=1)
        raise Exception("Unauthorized") from None
    return policy_for(key, event["methodArn"], hash_secret(secret))
