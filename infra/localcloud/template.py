"""template.yaml, translated offline: the only source of the local cloud's wiring.

`aws-sam-translator` turns the SAM template into plain CloudFormation. moto's CloudFormation then
creates the data resources (tables, queues, the event bus); the runner reads the functions,
schedules, event-source mappings and API from the same translated document.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# The SSM parameter is the chains seed the ingest function reads; alarms, log groups and the SNS topic are
# AWS's operations and have nothing to do locally, so they stay behind.
DATA_RESOURCE_TYPES = frozenset(
    {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Events::EventBus", "AWS::SSM::Parameter"}
)
_PLACEHOLDER_URI = "s3://kith-local/placeholder.zip"


class _NoManagedPolicies:
    def get_policies(self) -> dict[str, str]:
        return {}


@dataclass
class Template:
    sam: dict[str, Any]  # the template as written (CodeUri, Handler)
    cfn: dict[str, Any]  # translated CloudFormation (event-source mappings, rules, authorizers)
    parameters: dict[str, str] = field(default_factory=dict)

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.cfn["Resources"].items() if v["Type"] == resource_type}

    def code_dir(self, function_id: str) -> Path:
        return ROOT / str(self.sam["Resources"][function_id]["Properties"]["CodeUri"])


def load_template(path: Path = TEMPLATE, parameters: dict[str, str] | None = None) -> Template:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    sam = yaml_parse(path.read_text())
    translatable = copy.deepcopy(sam)
    # samtranslator insists on s3:// code locations; the runner reads the real paths from `sam`.
    for resource in translatable["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = _PLACEHOLDER_URI
    cfn = transform(translatable, parameters or {}, _NoManagedPolicies())
    return Template(sam=sam, cfn=cfn, parameters=dict(parameters or {}))


def data_only_template(template: Template) -> dict[str, Any]:
    """The translated template cut down to what moto's CloudFormation can create faithfully.

    Event rules that route bus events to queues come along: moto's EventBridge delivers to SQS
    targets, so the bus-to-queue wiring runs locally exactly as written. Schedules and rules
    aimed at functions stay behind; the runner plays those.
    """
    resources = {k: v for k, v in template.cfn["Resources"].items() if v["Type"] in DATA_RESOURCE_TYPES}
    for logical_id, resource in template.cfn["Resources"].items():
        if resource["Type"] == "AWS::Events::Rule" and _routes_to_queues(resource, resources):
            resources[logical_id] = resource
    # data resources may read parameters (a queue's maxReceiveCount); moto resolves them from their defaults
    parameters = template.cfn.get("Parameters", {})
    return {"AWSTemplateFormatVersion": "2010-09-09", "Parameters": parameters, "Resources": resources}


def _routes_to_queues(rule: dict[str, Any], created: dict[str, dict[str, Any]]) -> bool:
    props = rule.get("Properties", {})
    targets = props.get("Targets", [])
    if "EventPattern" not in props or not targets:
        return False
    for target in targets:
        arn = target.get("Arn", {})
        source = arn.get("Fn::GetAtt", [None])[0] if isinstance(arn, dict) else None
        if source not in created or created[source]["Type"] != "AWS::SQS::Queue":
            return False
    return True


def deploy_data_resources(
    template: Template, endpoint_url: str, stack_name: str = "kith-local", region: str = "us-east-1"
) -> dict[str, str]:
    """Create the tables, queues, bus and parameters in moto; returns {logical id: physical id (name or URL)}."""
    import json

    cfn_client = boto3.client("cloudformation", endpoint_url=endpoint_url, region_name=region)
    body = data_only_template(template)
    overrides = [
        {"ParameterKey": k, "ParameterValue": v} for k, v in template.parameters.items() if k in body["Parameters"]
    ]
    cfn_client.create_stack(StackName=stack_name, TemplateBody=json.dumps(body), Parameters=overrides)
    stack = cfn_client.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"moto could not create the data resources: {stack.get('StackStatusReason')}")
    resources = cfn_client.describe_stack_resources(StackName=stack_name)["StackResources"]
    return {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in resources}
