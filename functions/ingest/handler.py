"""Scheduled ingestion: every configured chain, range by range, until caught up or out of time."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.ingest import IngestError, IngestOptions, ingest_all, publish_metrics
from shared.settings import Needs, get_settings
from shared.tracing import observability, observed

logger, tracer, metrics = observability()
NEEDS = Needs("events_table", "app_table")
copy_config_to_registered_loggers(source_logger=logger, include={"kith.ingest"})
settings = get_settings()  # fails at cold start, naming the bad variable
# One writer keeps the Events stream in chain order, so the profiles function stays on its in-order fast
# path; ingestion is far faster than profile upkeep, so parallel writes would buy nothing end to end.
options = IngestOptions(write_workers=1)


@observed(logger, tracer, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    NEEDS.check(settings)

    def seconds_left() -> float:
        return context.get_remaining_time_in_millis() / 1000

    try:
        summary = ingest_all(settings, time_left=seconds_left, options=options)
    except IngestError as exc:
        publish_metrics(exc.summary, metrics)
        logger.error("ingestion failed for some chains", extra={"summary": exc.summary.to_dict()})
        raise
    publish_metrics(summary, metrics)
    result = summary.to_dict()
    logger.info("ingestion run finished", extra={"summary": result})
    return result
