"""X-Ray tracing settings every handler shares.

Traces live for 30 days, outside erasure's reach and readable by anyone with X-Ray access, so they
record timings and AWS call names, never data:
  * handlers are traced with capture_response=False and capture_error=False: a response holds API
    key secrets and contact documents, and an error message can quote the input that caused it;
  * only botocore is patched (X-Ray keeps table and queue names, not keys or items): patching
    requests or httplib would record every outbound URL, and RPC, Telegram and Discord URLs carry keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer

TRACED_MODULES: Final = ("botocore",)

H = TypeVar("H", bound=Callable[..., Any])


def observability() -> tuple[Logger, Tracer, Metrics]:
    """A handler's logger, tracer (botocore only, see above) and metrics."""
    return Logger(), Tracer(patch_modules=TRACED_MODULES), Metrics()


def observed(logger: Logger, tracer: Tracer, metrics: Metrics) -> Callable[[H], H]:
    """The decorators every traced handler wears: metrics flushed last, the trace keeping no response or
    error (see above), the log context cleared between invocations."""

    def wrap(handler: H) -> H:
        traced = tracer.capture_lambda_handler(capture_response=False, capture_error=False)(
            logger.inject_lambda_context(clear_state=True)(handler)
        )
        return cast(H, metrics.log_metrics(traced))

    return wrap
