"""The REST API behind API Gateway's single /{proxy+} route, and the background contact imports.

Imports run here, fed by the imports queue, rather than in a function of their own: only this
function's role may write contacts, identities and the consent ledger (template.yaml).
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.api.app import access_record, build_app, routers_of
from shared.settings import get_settings
from shared.tracing import observability

logger, tracer, metrics = observability()
app = build_app(lazy=True)  # each resource's routes are loaded by its first request
routers = routers_of(app)


@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        return import_chunks(event["Records"])
    started = time.monotonic()
    routers.include_for(event.get("path"))
    response = app.resolve(event, context)
    logger.info("access", extra={"access": access_record(event, response, time.monotonic() - started)})
    return response


def import_chunks(records: list[dict[str, Any]]) -> dict[str, Any]:
    from shared import imports  # the imports queue's work only: requests do not wait for it to load

    failures = []
    for record in records:
        try:
            imports.run_chunk(imports.ChunkJob.model_validate_json(record["body"]), get_settings())
        except Exception:
            logger.exception("import chunk failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
