"""The template's intrinsic functions (!Ref, !GetAtt, !Sub) resolved against what moto deployed.

Every part of the local cloud that reads the template resolves through this `Resolver`; see
docs/architecture.md "The local cloud".
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import Any

import boto3

from infra.localcloud.template import Template

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
FUNCTION_TYPE = "AWS::Lambda::Function"
SERVERLESS_FUNCTION_TYPE = "AWS::Serverless::Function"


class TemplateError(RuntimeError):
    """The template uses something the local cloud cannot resolve; the message names it."""


# ----------------------------------------------------------------------------- intrinsic functions


class Resolver:
    """Resolves Ref / Fn::GetAtt / Fn::Sub / Fn::Join / Fn::Select against what was deployed in moto.

    `physical` is deploy_data_resources' answer. Queue URLs are looked up through moto (its stack
    reports https://sqs.us-east-1.amazonaws.com/... URLs, which do not point at the local server).
    """

    def __init__(
        self,
        template: Template,
        physical: Mapping[str, str],
        endpoint_url: str | None,
        stack_name: str = "kith-local",
        region: str = REGION,
    ) -> None:
        self.template = template
        self.physical = dict(physical)
        self.endpoint_url = endpoint_url
        self.stack_name = stack_name
        self.region = region
        self._cache: dict[tuple[str, str], str] = {}
        self._clients: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        if self.endpoint_url is None:
            raise TemplateError(f"resolving a {service} attribute needs the moto endpoint")
        if service not in self._clients:
            self._clients[service] = aws_client(service, self.endpoint_url, self.region)
        return self._clients[service]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.template.cfn["Resources"])

    def parameter(self, name: str) -> str:
        if name in self.template.parameters:
            return str(self.template.parameters[name])
        declared = self.template.cfn.get("Parameters", {}).get(name)
        if declared is None:
            raise TemplateError(f"parameter {name} is not declared in the template")
        if "Default" not in declared:
            raise TemplateError(f"parameter {name} has no default: pass it to load_template(parameters=...)")
        return str(declared["Default"])

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(str(arg))
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(str(logical), str(attribute))
            if key == "Fn::Sub":
                return self.sub(arg)
            if key == "Fn::Join":
                separator, parts = arg
                return str(separator).join(str(self.resolve(p)) for p in self.resolve(parts))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by the local cloud")
        return {k: self.resolve(v) for k, v in value.items()}

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{self.stack_name}/local",
            "AWS::NoValue": "",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.template.cfn.get("Parameters", {}) or name in self.template.parameters:
            return self.parameter(name)
        resource = self.resources.get(name)
        if resource is None:
            raise TemplateError(f"!Ref {name}: no such resource or parameter")
        kind = resource["Type"]
        if kind == "AWS::SQS::Queue":
            return self.queue_url(name)
        if kind == "AWS::Events::EventBus":
            return self.event_bus_name(name)
        if kind == FUNCTION_TYPE:
            return self.function_name(name)
        if kind == "AWS::ApiGateway::RestApi":
            return api_id(name)
        if self.physical.get(name):
            return self.physical[name]
        raise TemplateError(f"!Ref {name} ({kind}): not deployed locally")

    def get_att(self, name: str, attribute: str) -> str:
        resource = self.resources.get(name)
        if resource is None:
            raise TemplateError(f"!GetAtt {name}.{attribute}: no such resource")
        kind = resource["Type"]
        key = (name, attribute)
        if key in self._cache:
            return self._cache[key]
        value: str
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            value = f"arn:aws:dynamodb:{self.region}:{ACCOUNT_ID}:table/{self.ref(name)}"
        elif kind == "AWS::DynamoDB::Table" and attribute == "StreamArn":
            table = self._client("dynamodb").describe_table(TableName=self.ref(name))["Table"]
            if "LatestStreamArn" not in table:
                raise TemplateError(f"!GetAtt {name}.StreamArn: the table has no stream")
            value = str(table["LatestStreamArn"])
        elif kind == "AWS::SQS::Queue" and attribute == "Arn":
            value = f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{self.queue_name(name)}"
        elif kind == "AWS::SQS::Queue" and attribute == "QueueName":
            value = self.queue_name(name)
        elif kind == "AWS::SQS::Queue" and attribute == "QueueUrl":
            value = self.queue_url(name)
        elif kind == "AWS::Events::EventBus" and attribute == "Arn":
            value = f"arn:aws:events:{self.region}:{ACCOUNT_ID}:event-bus/{self.event_bus_name(name)}"
        elif kind == "AWS::Events::EventBus" and attribute == "Name":
            value = self.event_bus_name(name)
        elif kind == FUNCTION_TYPE and attribute == "Arn":
            value = function_arn(self.function_name(name), self.region)
        elif kind == "AWS::ApiGateway::RestApi" and attribute == "RootResourceId":
            value = "root"
        else:
            raise TemplateError(f"!GetAtt {name}.{attribute} ({kind}) is not supported by the local cloud")
        self._cache[key] = value
        return value

    def sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        resolved_vars = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in resolved_vars:
                return str(resolved_vars[inner])
            if "." in inner and not inner.startswith("AWS::"):
                logical, attribute = inner.split(".", 1)
                return self.get_att(logical, attribute)
            return self.ref(inner)

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))

    def queue_name(self, name: str) -> str:
        physical = self.physical.get(name, "")
        if not physical:
            raise TemplateError(f"queue {name} is not deployed")
        return physical.rstrip("/").rsplit("/", 1)[-1]

    def queue_url(self, name: str) -> str:
        key = (name, "__url__")
        if key not in self._cache:
            if self.endpoint_url is None:
                raise TemplateError(f"the URL of queue {name} needs the moto endpoint")
            response = self._client("sqs").get_queue_url(QueueName=self.queue_name(name))
            self._cache[key] = str(response["QueueUrl"])
        return self._cache[key]

    def event_bus_name(self, name: str) -> str:
        # moto's stack gives the bus no physical id; its Name property is what AWS would report
        declared = self.resources[name].get("Properties", {}).get("Name")
        if declared is not None:
            return str(self.resolve(declared))
        return self.physical.get(name) or f"{self.stack_name}-{name}"

    def function_name(self, name: str) -> str:
        declared = self.resources[name].get("Properties", {}).get("FunctionName")
        if declared is not None:
            return str(self.resolve(declared))
        return f"{self.stack_name}-{name}"

    def logical_id_of_arn(self, arn: str) -> str | None:
        """Which resource an ARN resolved from this template belongs to (queues, tables, functions)."""
        for logical, resource in self.resources.items():
            if resource["Type"] in ("AWS::SQS::Queue", FUNCTION_TYPE, "AWS::DynamoDB::Table"):
                with contextlib.suppress(TemplateError):
                    if self.get_att(logical, "Arn") == arn:
                        return logical
        return None


def api_id(logical_id: str) -> str:
    # API Gateway ids are 10 lower-case alphanumerics; derive a stable one from the logical id
    return (re.sub(r"[^a-z0-9]", "", logical_id.lower()) + "0000000000")[:10]


def function_arn(function_name: str, region: str = REGION) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"


def aws_client(service: str, endpoint_url: str, region: str = REGION) -> Any:
    """A client bound explicitly to moto, so it never depends on whichever environment is swapped in."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)
    return session.client(service, endpoint_url=endpoint_url)
