"""The functions' IAM policies from template.yaml, and a real evaluator for requests against them.

Policies come from the SAM-translated template (each function's role, with the statements SAM adds),
intrinsics resolved to ARNs named after their logical ids. Evaluation runs
@cloud-copilot/iam-simulate (tests/support/iam_simulate.js): AWS's evaluation logic for Action,
Resource and Condition, including ForAllValues/ForAnyValue and explicit Deny.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.localcloud.intrinsics import ACCOUNT_ID, REGION
from infra.localcloud.intrinsics import Resolver as TemplateResolver
from infra.localcloud.template import Template

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = ACCOUNT_ID
SCRIPT = ROOT / "tests" / "support" / "iam_simulate.js"


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "resource": self.resource, "context": self.context}


def table_arn(name: str, index: str | None = None) -> str:
    base = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    return f"{base}/index/{index}" if index else base


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


class Resolver(TemplateResolver):
    """The local cloud's intrinsic resolver, offline: a resource's physical name is given, or its logical id.

    Walking Ref / Fn::GetAtt / Fn::Sub / Fn::Join / Fn::Select is the local cloud's own; only the leaves
    differ, since no moto endpoint is asked for stream ARNs or queue URLs.
    """

    def __init__(self, template: Template, physical: dict[str, str] | None = None) -> None:
        physical = physical or {}
        super().__init__(template, physical, None, stack_name=physical.get("AWS::StackName", "kith"), region=REGION)
        self.parameters = {
            name: str(template.parameters.get(name, spec.get("Default", "")))
            for name, spec in template.cfn.get("Parameters", {}).items()
        }

    def name(self, logical: str) -> str:
        return self.physical.get(logical, logical)

    def get_att(self, name: str, attribute: str) -> str:
        kind = self.template.cfn["Resources"][name]["Type"]
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return table_arn(self.name(name))
        if kind == "AWS::DynamoDB::Table" and attribute == "StreamArn":
            return table_arn(self.name(name)) + "/stream/local"
        if kind == "AWS::SQS::Queue" and attribute == "Arn":
            return queue_arn(self.name(name).rsplit("/", 1)[-1])
        if kind == "AWS::Events::EventBus" and attribute == "Arn":
            return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{self.name(name)}"
        raise ValueError(f"GetAtt {name}.{attribute} is not resolved here")

    def ref(self, name: str) -> str:
        pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
        pseudo["AWS::StackName"] = self.stack_name
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.name(name)


def function_policies(template: Template, function: str, resolver: Resolver) -> list[dict[str, Any]]:
    """Every inline policy document of the function's role, resolved (the template's own and SAM's)."""
    role = template.cfn["Resources"][f"{function}Role"]
    return [resolver.resolve(p["PolicyDocument"]) for p in role["Properties"].get("Policies", [])]


def own_statements(template: Template, function: str, resolver: Resolver) -> list[dict[str, Any]]:
    """The statements written in template.yaml for the function (SAM's own additions left out)."""
    statements: list[dict[str, Any]] = []
    for policy in template.cfn["Resources"][f"{function}Role"]["Properties"].get("Policies", []):
        if policy["PolicyName"].startswith(f"{function}RolePolicy"):
            document = resolver.resolve(policy["PolicyDocument"])
            statements += document["Statement"]
    return statements


def evaluate(policies: list[dict[str, Any]], requests: list[Request]) -> list[str]:
    """'Allowed', 'ImplicitlyDenied', 'ExplicitlyDenied' (or 'Error: ...') for each request."""
    named = [(f"p{i}", p) for i, p in enumerate(policies)]
    return [v.result for v in evaluate_detailed(named, requests, workers=1)]


@dataclass(frozen=True)
class Verdict:
    result: str  # 'Allowed', 'ImplicitlyDenied', 'ExplicitlyDenied' or 'Error: ...'
    grants: tuple[tuple[str, int], ...] = ()  # (policy name, 1-based statement index) of each Allow that matched
    ignored: tuple[str, ...] = ()  # context keys the evaluator dropped as not applying to the action


def evaluate_detailed(
    policies: list[tuple[str, dict[str, Any]]], requests: list[Request], workers: int = 2
) -> list[Verdict]:
    """Each request's verdict under the named policies."""
    return evaluate_many({"": policies}, [("", r) for r in requests], workers)


def evaluate_many(
    policy_sets: dict[str, list[tuple[str, dict[str, Any]]]],
    requests: list[tuple[str, Request]],
    workers: int = 2,
) -> list[Verdict]:
    """Each (policy set, request)'s verdict, a policy set being one principal's named policies; the
    requests are shared among `workers` evaluator processes running side by side."""
    if not requests:
        return []
    node = shutil.which("node")
    assert node, "node is needed to run the IAM evaluator"
    sets = {
        key: [{"name": name, "policy": {"Version": "2012-10-17", **p}} for name, p in policies]
        for key, policies in policy_sets.items()
    }
    size = -(-len(requests) // max(1, workers))
    verdicts: list[Verdict] = []
    with contextlib.ExitStack() as files:
        running = []
        for start in range(0, len(requests), size):
            payload = {
                "account": ACCOUNT,
                "principal": f"arn:aws:iam::{ACCOUNT}:role/kith-function",
                "policySets": sets,
                "requests": [{**r.as_json(), "policySet": key} for key, r in requests[start : start + size]],
            }
            # answers go to files: a pipe left unread while another worker is waited for could fill and stall
            out = files.enter_context(tempfile.TemporaryFile("w+"))
            err = files.enter_context(tempfile.TemporaryFile("w+"))
            process = subprocess.Popen(
                [node, str(SCRIPT)], stdin=subprocess.PIPE, stdout=out, stderr=err, text=True, cwd=ROOT
            )
            assert process.stdin is not None
            process.stdin.write(json.dumps(payload))
            process.stdin.close()
            running.append((process, out, err))
        for process, out, err in running:
            code = process.wait(timeout=600)
            err.seek(0)
            assert code == 0, err.read()[-2000:]
            out.seek(0)
            for answer in json.load(out):
                if answer["result"] == "Error":
                    verdicts.append(Verdict(f"Error: {json.dumps(answer['errors'])[:300]}"))
                    continue
                grants = tuple((g["policy"], int(g["statement"])) for g in answer.get("grants", []))
                verdicts.append(Verdict(answer["result"], grants, tuple(answer.get("ignored", []))))
    return verdicts


@functools.cache
def _managed_policies() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    loaded: dict[str, Any] = json.loads(aws_managed_policies_data)
    return loaded


def managed_policy(arn: str) -> dict[str, Any]:
    """An AWS managed policy's document (SAM attaches them for logs, X-Ray and event sources), as moto ships it."""
    document: dict[str, Any] = _managed_policies()[arn.rsplit("/", 1)[-1]]["Document"]
    return copy.deepcopy(document)


def role_policies(template: Template, function: str, resolver: Resolver) -> list[tuple[str, dict[str, Any]]]:
    """Every policy of the function's role, named: its inline policies (the template's and SAM's) and
    the AWS managed policies SAM attaches (event-source polling among them)."""
    role = template.cfn["Resources"][f"{function}Role"]["Properties"]
    named = [(p["PolicyName"], resolver.resolve(p["PolicyDocument"])) for p in role.get("Policies", [])]
    for arn in role.get("ManagedPolicyArns", []):
        named.append((str(arn).rsplit("/", 1)[-1], managed_policy(str(arn))))
    return named
