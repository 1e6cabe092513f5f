"""template.yaml keeps what operating Kith in AWS needs: retained tables, logs that expire, an alarm for
every way it can fail quietly, and nothing deployed that nothing uses."""

from __future__ import annotations

from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from infra.deploy.runtime import TEMPLATE, template_runtime


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return parsed


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["Properties"] for a in _of_type(template, "AWS::CloudWatch::Alarm").values()]


def _dimension(alarm: dict[str, Any], name: str) -> Any:
    return next((d["Value"] for d in alarm.get("Dimensions", []) if d["Name"] == name), None)


def test_every_table_outlives_the_stack_and_can_be_restored(template: dict[str, Any]) -> None:
    tables = _of_type(template, "AWS::DynamoDB::Table")
    assert {"EventsTable", "AppTable"} <= set(tables)
    for name, table in tables.items():
        assert table.get("DeletionPolicy") == "Retain", name
        assert table.get("UpdateReplacePolicy") == "Retain", name
        assert table["Properties"].get("DeletionProtectionEnabled") is True, name
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name


def test_every_function_logs_to_a_group_that_expires(template: dict[str, Any]) -> None:
    groups = _of_type(template, "AWS::Logs::LogGroup")
    for name, function in _of_type(template, "AWS::Serverless::Function").items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert group in groups, name
        assert groups[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name


def test_every_failure_has_an_alarm_that_notifies_the_topic(template: dict[str, Any]) -> None:
    alarms = _alarms(template)
    topic = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
    assert all(a["AlarmActions"] == [topic] for a in alarms)

    def watched(metric: str, dimension: str) -> set[Any]:
        return {str(_dimension(a, dimension)) for a in alarms if a["MetricName"] == metric}

    functions = _of_type(template, "AWS::Serverless::Function")
    refs = {str({"Ref": name}) for name in functions}
    assert watched("Errors", "FunctionName") == refs
    assert watched("Throttles", "FunctionName") == refs

    # every queue that receives failures: a dead-letter target, or a stream mapping's on-failure destination
    failure_queues = set()
    for queue in _of_type(template, "AWS::SQS::Queue").values():
        redrive = queue["Properties"].get("RedrivePolicy")
        if redrive:
            failure_queues.add(redrive["deadLetterTargetArn"]["Fn::GetAtt"][0])
    stream_functions = set()
    for name, function in functions.items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "DynamoDB":
                stream_functions.add(name)
                failure_queues.add(
                    event["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
                )
    assert len(failure_queues) >= 9
    queue_alarms = watched("ApproximateNumberOfMessagesVisible", "QueueName")
    assert queue_alarms == {str({"Fn::GetAtt": [q, "QueueName"]}) for q in failure_queues}
    assert watched("IteratorAge", "FunctionName") == {str({"Ref": name}) for name in stream_functions}
    api_alarms = [a for a in alarms if a["MetricName"] == "5XXError"]
    assert (
        len(api_alarms) == 1
        and _dimension(api_alarms[0], "ApiName") == template["Resources"]["KithApi"]["Properties"]["Name"]
    )


def test_nothing_unused_or_inert_is_deployed(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    assert "IdempotencyTable" not in resources
    api = resources["KithApi"]["Properties"]
    # no usage plan (its quota would bind only API Gateway keys, which no method requires), so no API key either
    assert "UsagePlan" not in api["Auth"] and "ApiKeyRequired" not in str(api)
    assert api["OpenApiVersion"] == "3.0.1"  # without it SAM adds a second, unused "Stage" stage
    for name, function in _of_type(template, "AWS::Serverless::Function").items():
        # reserved concurrency fails in new accounts, whose whole limit is 10
        assert "ReservedConcurrentExecutions" not in function["Properties"], name


def test_chains_are_not_in_any_environment(template: dict[str, Any]) -> None:
    variables = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    for function in _of_type(template, "AWS::Serverless::Function").values():
        variables.update(function["Properties"].get("Environment", {}).get("Variables", {}))
    assert "KITH_CHAINS" not in variables
    seed = template["Resources"]["ChainsSeedParameter"]["Properties"]
    assert seed["Value"] == {"Ref": "ChainsConfig"} and seed["Type"] == "String"


def test_layers_and_functions_share_one_runtime(template: dict[str, Any]) -> None:
    runtime = template_runtime()
    assert template["Globals"]["Function"]["Runtime"] == runtime.name
    for name, layer in _of_type(template, "AWS::Serverless::LayerVersion").items():
        assert layer["Properties"]["CompatibleRuntimes"] == [runtime.name], name
        assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": runtime.architecture}, name


def test_the_ingest_function_reads_the_seed_parameter_it_is_given() -> None:
    from shared.settings import settings_from_env

    settings = settings_from_env({"APP_TABLE": "t", "KITH_CHAINS_SEED_PARAMETER": "/kith/kith/chains-seed"})
    assert settings.chains_seed_parameter == "/kith/kith/chains-seed"
