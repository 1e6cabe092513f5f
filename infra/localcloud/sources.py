"""The event sources the local cloud wires from the translated template: schedules, stream and SQS mappings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from infra.localcloud.filters import parse_filters
from infra.localcloud.functions import ACCOUNT_ID, FUNCTION_TYPE, Resolver, TemplateError, aws_client
from infra.localcloud.schedule import ScheduleSpec, validate_schedule
from infra.localcloud.template import Template


@dataclass(frozen=True)
class StreamMappingSpec:
    logical_id: str
    function: str
    table: str
    stream_arn: str
    batch_size: int = 100
    batching_window: float = 0.0
    starting_position: str = "TRIM_HORIZON"
    filters: tuple[dict[str, Any], ...] = ()
    report_batch_item_failures: bool = False
    bisect_on_error: bool = False
    maximum_retry_attempts: int = -1  # -1: retry until the record expires, as in AWS
    maximum_record_age: int = -1
    on_failure_arn: str | None = None
    on_failure_url: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class QueueMappingSpec:
    logical_id: str
    function: str
    queue: str
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    batching_window: float = 0.0
    filters: tuple[dict[str, Any], ...] = ()
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None
    enabled: bool = True


@dataclass
class EventSources:
    schedules: list[ScheduleSpec] = field(default_factory=list)
    streams: list[StreamMappingSpec] = field(default_factory=list)
    queues: list[QueueMappingSpec] = field(default_factory=list)


def _function_of(resolver: Resolver, value: Any) -> str:
    """The logical id of the function a FunctionName / target Arn points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
    resolved = str(resolver.resolve(value))
    for logical, resource in resolver.resources.items():
        if resource["Type"] == FUNCTION_TYPE and resolved in (
            resolver.function_name(logical),
            resolver.get_att(logical, "Arn"),
        ):
            return logical
    raise TemplateError(f"{value!r} does not name a function of the template")


def _source_of(value: Any) -> tuple[str, str] | None:
    """(logical id, attribute) when an EventSourceArn is a GetAtt of this template's resource."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        logical, attribute = target if isinstance(target, list) else str(target).split(".", 1)
        return str(logical), str(attribute)
    return None


def discover_event_sources(template: Template, resolver: Resolver) -> EventSources:
    sources = EventSources()
    resources = template.cfn["Resources"]
    for logical, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Events::Rule" and "ScheduleExpression" in props:
            expression = str(resolver.resolve(props["ScheduleExpression"]))
            validate_schedule(expression)
            for target in props.get("Targets", []):
                raw_input = target.get("Input")
                sources.schedules.append(
                    ScheduleSpec(
                        logical_id=logical,
                        function=_function_of(resolver, target["Arn"]),
                        expression=expression,
                        rule_arn=f"arn:aws:events:{resolver.region}:{ACCOUNT_ID}:rule/{resolver.stack_name}-{logical}",
                        input=None if raw_input is None else json.loads(str(resolver.resolve(raw_input))),
                        enabled=str(resolver.resolve(props.get("State", "ENABLED"))) == "ENABLED",
                    )
                )
        elif resource["Type"] == "AWS::Lambda::EventSourceMapping":
            function = _function_of(resolver, props["FunctionName"])
            source = _source_of(props["EventSourceArn"])
            arn = str(resolver.resolve(props["EventSourceArn"]))
            filters = tuple(parse_filters(resolver.resolve(props.get("FilterCriteria"))))
            report = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
            enabled = bool(resolver.resolve(props.get("Enabled", True)))
            window = float(resolver.resolve(props.get("MaximumBatchingWindowInSeconds", 0)))
            if arn.startswith("arn:aws:dynamodb:"):
                table = source[0] if source else arn.split(":table/", 1)[1].split("/")[0]
                on_failure = (props.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
                on_failure_arn = None if on_failure is None else str(resolver.resolve(on_failure))
                on_failure_url = None
                if on_failure_arn is not None:
                    if not on_failure_arn.startswith("arn:aws:sqs:"):
                        raise TemplateError(f"{logical}: only SQS on-failure destinations run locally")
                    on_failure_url = queue_url_of_arn(resolver, on_failure_arn)
                sources.streams.append(
                    StreamMappingSpec(
                        logical_id=logical,
                        function=function,
                        table=table,
                        stream_arn=arn,
                        batch_size=int(resolver.resolve(props.get("BatchSize", 100))),
                        batching_window=window,
                        starting_position=str(resolver.resolve(props.get("StartingPosition", "LATEST"))),
                        filters=filters,
                        report_batch_item_failures=report,
                        bisect_on_error=bool(resolver.resolve(props.get("BisectBatchOnFunctionError", False))),
                        maximum_retry_attempts=int(resolver.resolve(props.get("MaximumRetryAttempts", -1))),
                        maximum_record_age=int(resolver.resolve(props.get("MaximumRecordAgeInSeconds", -1))),
                        on_failure_arn=on_failure_arn,
                        on_failure_url=on_failure_url,
                        enabled=enabled,
                    )
                )
            elif arn.startswith("arn:aws:sqs:"):
                scaling = resolver.resolve(props.get("ScalingConfig") or {})
                concurrency = scaling.get("MaximumConcurrency")
                sources.queues.append(
                    QueueMappingSpec(
                        logical_id=logical,
                        function=function,
                        queue=source[0] if source else arn.rsplit(":", 1)[1],
                        queue_url=queue_url_of_arn(resolver, arn),
                        queue_arn=arn,
                        batch_size=int(resolver.resolve(props.get("BatchSize", 10))),
                        batching_window=window,
                        filters=filters,
                        report_batch_item_failures=report,
                        maximum_concurrency=None if concurrency is None else int(concurrency),
                        enabled=enabled,
                    )
                )
            else:
                raise TemplateError(f"{logical}: event source {arn} is not supported locally (streams and SQS are)")
    return sources


def queue_url_of_arn(resolver: Resolver, arn: str) -> str:
    logical = resolver.logical_id_of_arn(arn)
    if logical is not None:
        return resolver.queue_url(logical)
    if resolver.endpoint_url is None:
        raise TemplateError(f"the URL of queue {arn} needs the moto endpoint")
    sqs = aws_client("sqs", resolver.endpoint_url, resolver.region)
    return str(sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"])
