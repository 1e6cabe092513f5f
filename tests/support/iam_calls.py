"""The AWS calls a local-cloud run recorded (infra.localcloud.calls), audited against template.yaml's roles.

A Snapshot holds what the run recorded, with what it takes to resolve the roles' policies to the ARNs the
run's calls name (the template's parameters and the physical names the local cloud deployed). `audit`
evaluates every distinct request with a real IAM evaluator (tests/support/iam.py) against its function's
whole role (the template's statements, SAM's, and the AWS managed policies SAM attaches), and counts which
of the template's own Allow statements granted something.

Calls are counted per distinct request already; before evaluation, condition values the policies cannot
tell apart are folded together too (a wallet's partition key is like every other wallet's to a policy that
tests `CHAIN#*` and `APIKEY*`): a value is replaced by the first value of the run that passes and fails
exactly the same condition tests. The evaluator still judges real values of the run, and so judges each
call as it would the call itself.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.localcloud.calls import Recorder
from infra.localcloud.template import Template, load_template
from tests.support.iam import Request, Resolver, Verdict, evaluate_many, role_policies

# A context key's tests that fold values: an operator outside these keeps the key's values as they are.
_STRING_TESTS = {
    "StringEquals": "equals",
    "StringNotEquals": "equals",
    "StringLike": "like",
    "StringNotLike": "like",
    "StringEqualsIgnoreCase": "iequals",
    "StringNotEqualsIgnoreCase": "iequals",
}


@dataclass(frozen=True)
class Recorded:
    function: str  # logical id (or, if the run's name matches no function, that name)
    origin: str
    request: Request
    calls: int


@dataclass
class Snapshot:
    template_path: str
    parameters: dict[str, str]
    physical: dict[str, str]
    requests: list[Recorded]
    operations: list[tuple[str, str, str, int]]  # (function, origin, service:Operation, calls)
    underivable: list[tuple[str, str, str, int]]  # (function, service:Operation, why, calls)
    not_functions: dict[str, int]

    @classmethod
    def of(cls, cloud: Any, recorder: Recorder) -> Snapshot:
        app = cloud.app
        logical = {spec.name: logical_id for logical_id, spec in app.host.specs.items()}
        physical = dict(app.physical)
        # the bus's name is the one the functions are given; moto's stack reports none
        physical["EventBus"] = app.resolver.event_bus_name("EventBus")
        physical["AWS::StackName"] = app.stack_name
        with recorder._lock:
            requests = [
                Recorded(logical.get(c.function, c.function), c.origin, _request(c.request), n)
                for c, n in recorder.requests.items()
            ]
            operations = [(logical.get(f, f), o, op, n) for (f, o, op), n in recorder.operations.items()]
            underivable = [(logical.get(f, f), op, why, n) for (f, op, why), n in recorder.underivable.items()]
            not_functions = dict(recorder.not_functions)
        return cls(
            template_path=str(cloud.config.template_path),
            parameters=dict(app.template.parameters),
            physical=physical,
            requests=requests,
            operations=operations,
            underivable=underivable,
            not_functions=not_functions,
        )

    def template(self) -> Template:
        return load_template(Path(self.template_path), self.parameters)

    def save(self, path: Path) -> None:
        data = {
            "template_path": self.template_path,
            "parameters": self.parameters,
            "physical": self.physical,
            "requests": [[r.function, r.origin, r.request.as_json(), r.calls] for r in self.requests],
            "operations": self.operations,
            "underivable": self.underivable,
            "not_functions": self.not_functions,
        }
        path.write_text(json.dumps(data))

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        data = json.loads(path.read_text())
        requests = [
            Recorded(f, o, Request(r["action"], r["resource"], r["context"]), n) for f, o, r, n in data["requests"]
        ]
        return cls(
            template_path=data["template_path"],
            parameters=data["parameters"],
            physical=data["physical"],
            requests=requests,
            operations=[tuple(x) for x in data["operations"]],
            underivable=[tuple(x) for x in data["underivable"]],
            not_functions=data["not_functions"],
        )


def _request(request: Any) -> Request:
    return Request(request.action, request.resource, request.context_dict())


# ----------------------------------------------------------------------------- the audit


@dataclass
class Statement:
    """One Allow statement the template writes for a function's role, and what it granted in the run."""

    function: str
    policy: str
    index: int  # 1-based, as the evaluator names it
    label: str  # its actions and resources by logical id: stable across deployments
    document: dict[str, Any]
    granted: int = 0  # IAM requests it allowed (each item of a transaction counts)
    actions: Counter[str] = field(default_factory=Counter)


@dataclass
class Denied:
    function: str
    origin: str
    request: Request
    verdict: Verdict
    calls: int


@dataclass
class Audit:
    calls: dict[str, int]  # API calls per function (a transaction is one call, several requests)
    distinct: dict[str, int]  # distinct IAM requests per function
    evaluated: int  # requests the evaluator judged, after folding
    denied: list[Denied]
    unapplied: list[tuple[str, Request, tuple[str, ...]]]  # condition keys a policy tests but the evaluator dropped
    statements: list[Statement]
    unknown_functions: list[str]
    untaught_keys: list[str]  # condition keys a role tests that infra.localcloud.calls does not supply

    def unused(self) -> list[Statement]:
        return [s for s in self.statements if s.granted == 0]

    def summary(self) -> str:
        lines = [f"{'function':<20} {'calls':>9} {'distinct':>9}  statements used/written"]
        for function in sorted(self.calls):
            own = [s for s in self.statements if s.function == function]
            used = sum(1 for s in own if s.granted)
            lines.append(f"{function:<20} {self.calls[function]:>9} {self.distinct[function]:>9}  {used}/{len(own)}")
        lines.append(f"{len(self.statements)} statements; {self.evaluated} distinct requests evaluated after folding")
        for s in self.statements:
            unused_actions = [a for a in _actions(s.document) if not any(_like(a, used) for used in s.actions)]
            note = f"  (no call used: {', '.join(unused_actions)})" if unused_actions and s.granted else ""
            lines.append(f"  {s.function}: {s.label}: {s.granted} requests{note}")
        return "\n".join(lines)


def audit(snapshot: Snapshot, template: Template | None = None, workers: int = 2) -> Audit:
    template = template or snapshot.template()
    resolver = Resolver(template, snapshot.physical)
    functions = sorted(k for k, v in template.cfn["Resources"].items() if v["Type"] == "AWS::Lambda::Function")
    policy_sets = {f: role_policies(template, f, resolver) for f in functions}
    unknown = sorted({r.function for r in snapshot.requests} - set(functions))

    tests = _condition_tests([doc for named in policy_sets.values() for _, doc in named])
    from infra.localcloud.calls import CONTEXT_KEYS

    untaught = sorted(k for k in tests if k not in CONTEXT_KEYS and not k.startswith("aws:"))
    folded: Counter[tuple[str, str, tuple[str, str, str]]] = Counter()
    folded_requests: dict[tuple[str, str, str], Request] = {}
    representatives: dict[tuple[str, tuple[bool, ...]], str] = {}
    for recorded in sorted(snapshot.requests, key=lambda r: (r.function, r.origin, _key(r.request))):
        if recorded.function in unknown:
            continue
        request = _fold(recorded.request, tests, representatives)
        folded_requests.setdefault(_key(request), request)
        folded[(recorded.function, recorded.origin, _key(request))] += recorded.calls
    items = [(f, o, folded_requests[k]) for f, o, k in folded]
    verdicts = evaluate_many(policy_sets, [(f, r) for f, _, r in items], workers)

    statements = _own_statements(template, functions, resolver)
    by_key = {(s.function, s.policy, s.index): s for s in statements}
    denied: list[Denied] = []
    unapplied: list[tuple[str, Request, tuple[str, ...]]] = []
    for (function, origin, request), verdict in zip(items, verdicts, strict=True):
        calls = folded[(function, origin, _key(request))]
        if verdict.result != "Allowed":
            denied.append(Denied(function, origin, request, verdict, calls))
            continue
        dropped = tuple(k for k in verdict.ignored if k in tests)
        if dropped:
            unapplied.append((function, request, dropped))
        for policy, index in verdict.grants:
            statement = by_key.get((function, policy, index))
            if statement is not None:
                statement.granted += calls
                statement.actions[request.action] += calls

    calls_per_function: Counter[str] = Counter()
    for function, _, _, n in snapshot.operations:
        calls_per_function[function] += n
    distinct: Counter[str] = Counter(r.function for r in snapshot.requests)
    return Audit(
        calls={f: calls_per_function[f] for f in functions},
        distinct={f: distinct[f] for f in functions},
        evaluated=len(items),
        denied=denied,
        unapplied=unapplied,
        statements=statements,
        unknown_functions=unknown,
        untaught_keys=untaught,
    )


def _own_statements(template: Template, functions: list[str], resolver: Resolver) -> list[Statement]:
    """The Allow statements template.yaml writes for each role (SAM names their policy <Function>RolePolicy<n>)."""
    found = []
    for function in functions:
        role = template.cfn["Resources"][f"{function}Role"]["Properties"]
        for policy in role.get("Policies", []):
            if not policy["PolicyName"].startswith(f"{function}RolePolicy"):
                continue
            for index, written in enumerate(policy["PolicyDocument"]["Statement"], start=1):
                if written.get("Effect") != "Allow":
                    continue
                label = f"{', '.join(_actions(written))} on {', '.join(_resources(written))}"
                found.append(Statement(function, policy["PolicyName"], index, label, resolver.resolve(written)))
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", statement.get("NotAction", []))
    return [actions] if isinstance(actions, str) else list(actions)


def _resources(statement: dict[str, Any]) -> list[str]:
    resources = statement.get("Resource", [])
    return [_resource_label(r) for r in (resources if isinstance(resources, list) else [resources])]


def _resource_label(value: Any) -> str:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        logical, attribute = target if isinstance(target, list) else str(target).split(".", 1)
        return str(logical) if attribute == "Arn" else f"{logical}.{attribute}"
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        text = re.sub(r"^arn:\$\{AWS::Partition\}:\w+:\$\{AWS::Region\}:\$\{AWS::AccountId\}:", "", str(text))
        return re.sub(r"\$\{(\w+)\.Arn\}", r"\1", text)
    return str(value)


def _like(pattern: str, value: str) -> bool:
    """IAM's StringLike: * any run of characters, ? one character, case-sensitive."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _condition_tests(documents: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]] | None]:
    """For each condition key any policy tests: its (test, value) pairs, or None when some operator
    is not a plain string test (the key's values are then never folded)."""
    tests: dict[str, list[tuple[str, str]] | None] = defaultdict(list)
    for document in documents:
        statements = document.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            for operator, keys in (statement.get("Condition") or {}).items():
                base = operator.split(":")[-1].removesuffix("IfExists")
                for key, values in keys.items():
                    kind = _STRING_TESTS.get(base)
                    listed = values if isinstance(values, list) else [values]
                    if kind is None or tests[key] is None or any("${" in str(v) for v in listed):
                        tests[key] = None
                        continue
                    tests[key] += [(kind, str(v)) for v in listed]  # type: ignore[operator]
    return dict(tests)


def _signature(tests: list[tuple[str, str]], value: str) -> tuple[bool, ...]:
    out = []
    for kind, pattern in tests:
        if kind == "equals":
            out.append(value == pattern)
        elif kind == "iequals":
            out.append(value.lower() == pattern.lower())
        else:
            out.append(_like(pattern, value))
    return tuple(out)


def _fold(
    request: Request,
    tests: dict[str, list[tuple[str, str]] | None],
    representatives: dict[tuple[str, tuple[bool, ...]], str],
) -> Request:
    context: dict[str, Any] = {}
    for key, value in request.context.items():
        if key in tests and tests[key] is None:
            context[key] = value
            continue
        # a key no policy tests cannot change a verdict: all of its values are alike
        key_tests = tests.get(key) or []
        values = value if isinstance(value, list) else [value]
        folded = [representatives.setdefault((key, _signature(key_tests, v)), v) for v in values]
        context[key] = sorted(set(folded)) if isinstance(value, list) else folded[0]
    return Request(request.action, request.resource, context)


def _key(request: Request) -> tuple[str, str, str]:
    return (request.action, request.resource, json.dumps(request.context, sort_keys=True))
