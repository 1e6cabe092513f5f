"""The template's Lambda functions, loaded from their folders and invoked in this process.

moto cannot invoke Lambdas (that needs Docker), so the local cloud runs each handler here, with the
environment the translated template gives it and a context object shaped like Lambda's. Every
function shares one process, so each call runs with its own per-thread environment
(infra/localcloud/environ.py): functions run side by side, as Lambda's do, and an API call never
waits for a stream batch.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import re
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO, TypeVar

import boto3

from infra.localcloud import environ
from infra.localcloud.template import ROOT, Template

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
FUNCTION_TYPE = "AWS::Lambda::Function"
SERVERLESS_FUNCTION_TYPE = "AWS::Serverless::Function"

log = logging.getLogger("kith.localcloud")

T = TypeVar("T")


class TemplateError(RuntimeError):
    """The template uses something the local cloud cannot resolve; the message names it."""


class FunctionError(RuntimeError):
    """A handler raised, or could not be loaded; wraps the original exception."""

    def __init__(self, function: str, cause: BaseException) -> None:
        super().__init__(f"{function}: {type(cause).__name__}: {cause}")
        self.function = function
        self.cause = cause


class FunctionTimeout(FunctionError):
    """The handler ran past its declared Timeout; Lambda would have stopped it and reported an error."""


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


# ----------------------------------------------------------------------------- function specs


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str  # module.function, relative to code_dir, as Lambda reads it
    timeout: int
    memory: int
    reserved_concurrency: int | None
    environment: dict[str, str]

    @property
    def handler_file(self) -> Path:
        module, _ = self.handler.rsplit(".", 1)
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def handler_function(self) -> str:
        return self.handler.rsplit(".", 1)[1]


def discover_functions(template: Template, resolver: Resolver, base_dir: Path | None = None) -> dict[str, FunctionSpec]:
    """Every AWS::Serverless::Function, with the translated (Globals-merged) settings and environment.

    CodeUri is relative to `base_dir`: the folder of the template, as for `sam build` (the repository
    root for template.yaml).
    """
    base = ROOT if base_dir is None else base_dir
    specs: dict[str, FunctionSpec] = {}
    for logical, sam_resource in template.sam["Resources"].items():
        if sam_resource.get("Type") != SERVERLESS_FUNCTION_TYPE:
            continue
        translated = template.cfn["Resources"].get(logical)
        if translated is None or translated["Type"] != FUNCTION_TYPE:
            raise TemplateError(f"{logical} was not translated into an AWS::Lambda::Function")
        props = translated["Properties"]
        variables = props.get("Environment", {}).get("Variables", {})
        environment = {k: _env_string(resolver.resolve(v)) for k, v in variables.items()}
        name = resolver.function_name(logical)
        code_uri = sam_resource["Properties"].get("CodeUri") or template.sam.get("Globals", {}).get("Function", {}).get(
            "CodeUri"
        )
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical}: CodeUri must be a local folder for the local cloud")
        reserved = props.get("ReservedConcurrentExecutions")
        specs[logical] = FunctionSpec(
            logical_id=logical,
            name=name,
            arn=function_arn(name, resolver.region),
            code_dir=(base / code_uri).resolve(),
            handler=str(props["Handler"]),
            timeout=int(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
            reserved_concurrency=None if reserved is None else int(reserved),
            environment=environment,
        )
    return specs


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ----------------------------------------------------------------------------- invocation


class LocalLambdaContext:
    """The attributes and method of Lambda's Python context object that handlers and Powertools use."""

    def __init__(self, spec: FunctionSpec, region: str = REGION) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class InvocationStats:
    invocations: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


# Variables that must not leak from the host process into a function: Lambda sets its own.
_HOST_ONLY_PREFIXES = ("AWS_", "POWERTOOLS_", "KITH_", "_HANDLER", "LAMBDA_")


class FunctionHost:
    """Loads handlers on first use and invokes them side by side, each with its own environment."""

    def __init__(
        self,
        specs: Mapping[str, FunctionSpec],
        endpoint_url: str,
        region: str = REGION,
        extra_environment: Mapping[str, str] | None = None,
        interactive_endpoint_url: str | None = None,
        interactive_functions: Iterable[str] = (),
    ) -> None:
        self.specs = dict(specs)
        self.endpoint_url = endpoint_url
        # the functions a caller waits on (the API and its authorizer) reach moto through its served-first port
        self.interactive_endpoint_url = interactive_endpoint_url or endpoint_url
        self.interactive_functions = frozenset(interactive_functions)
        self.region = region
        self.extra_environment = dict(extra_environment or {})
        self.stats = InvocationStats()
        self._loading = threading.Lock()
        # One execution environment per function: a handler module's objects (Powertools' resolver and
        # batch processor, Metrics) hold one invocation's state, as in a Lambda sandbox, so two
        # invocations of one function take turns while different functions run side by side.
        self._environments = {logical_id: threading.Lock() for logical_id in self.specs}
        self._modules: dict[str, ModuleType] = {}
        self._base_env = {k: v for k, v in os.environ.items() if not k.startswith(_HOST_ONLY_PREFIXES)}
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        with self._in_flight_lock:
            return self._in_flight

    def spec(self, logical_id: str) -> FunctionSpec:
        try:
            return self.specs[logical_id]
        except KeyError:
            raise TemplateError(f"no function {logical_id} in the template") from None

    def environment(self, logical_id: str) -> dict[str, str]:
        spec = self.spec(logical_id)
        return {
            **self._base_env,
            **spec.environment,
            "AWS_ENDPOINT_URL": (
                self.interactive_endpoint_url if logical_id in self.interactive_functions else self.endpoint_url
            ),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "_HANDLER": spec.handler,
            # no X-Ray daemon here: with Tracing: Active, Powertools would try to reach one
            "POWERTOOLS_TRACE_DISABLED": "true",
            **self.extra_environment,
        }

    @contextlib.contextmanager
    def environment_of(self, logical_id: str) -> Iterator[None]:
        """Run code (a handler, or bootstrap code such as creating an API key) as `logical_id` would."""
        env = self.environment(logical_id)
        saved_name = _CURRENT_FUNCTION.name
        with environ.running_with(env):
            _CURRENT_FUNCTION.name = logical_id
            try:
                yield
            finally:
                _CURRENT_FUNCTION.name = saved_name

    def call_as(self, logical_id: str, fn: Callable[[], T]) -> T:
        with self.environment_of(logical_id):
            return fn()

    def handler(self, logical_id: str) -> Callable[[Any, Any], Any]:
        """Import the handler module (inside the function's environment, as a cold start would)."""
        spec = self.spec(logical_id)
        module = self._modules.get(logical_id)
        if module is None:
            with self._loading:  # two first calls at once import the module once
                module = self._modules.get(logical_id)
                if module is None:
                    module = _load_module(spec)
                    self._modules[logical_id] = module
        handler = getattr(module, spec.handler_function, None)
        if not callable(handler):
            raise TemplateError(f"{spec.handler_file} has no function {spec.handler_function}")
        return handler

    def module(self, logical_id: str) -> ModuleType:
        """The loaded handler module (imported in the function's environment when first needed)."""
        if logical_id not in self._modules:
            with self.environment_of(logical_id):
                self.handler(logical_id)
        return self._modules[logical_id]

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke synchronously; a handler exception (or timeout) is raised as FunctionError."""
        spec = self.spec(logical_id)
        with self._in_flight_lock:
            self._in_flight += 1
        try:
            with self._environments[logical_id], self.environment_of(logical_id):
                self.stats.invocations[logical_id] += 1
                started = time.monotonic()
                try:
                    handler = self.handler(logical_id)
                    context = LocalLambdaContext(spec, self.region)
                    result = handler(event, context)
                except Exception as exc:
                    self.stats.errors[logical_id] += 1
                    log.warning(
                        "function %s failed: %s: %s\n%s",
                        logical_id,
                        type(exc).__name__,
                        exc,
                        traceback.format_exc(),
                    )
                    raise FunctionError(logical_id, exc) from exc
                elapsed = time.monotonic() - started
                if elapsed > spec.timeout:
                    self.stats.errors[logical_id] += 1
                    log.warning("function %s ran %.1f s, past its %d s timeout", logical_id, elapsed, spec.timeout)
                    raise FunctionTimeout(logical_id, TimeoutError(f"Task timed out after {spec.timeout:.2f} seconds"))
                return result
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1


def _load_module(spec: FunctionSpec) -> ModuleType:
    path = spec.handler_file
    if not path.is_file():
        raise TemplateError(f"{spec.logical_id}: handler file {path} does not exist")
    # Lambda puts the layer's python/ folder on sys.path; locally the repository root plays that role.
    root = str(ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)
    # every function's file is handler.py: a unique module name keeps them apart in sys.modules
    module_name = f"kith_function_{spec.logical_id}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise TemplateError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


# ----------------------------------------------------------------------------- log routing


class _CurrentFunction(threading.local):
    name: str | None = None


_CURRENT_FUNCTION = _CurrentFunction()


class RoutingStream(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr: writes go to the running function's log file.

    Powertools' Logger binds sys.stdout when a handler module is imported, so swapping sys.stdout
    per call would not reach it; routing each write by the calling thread's current function does.
    """

    def __init__(self, log_dir: Path, default_name: str = "localcloud") -> None:
        super().__init__()
        self.log_dir = log_dir
        self.default_name = default_name
        self._files: dict[str, TextIO] = {}
        self._lock = threading.Lock()
        log_dir.mkdir(parents=True, exist_ok=True)

    def _file(self, name: str) -> TextIO:
        handle = self._files.get(name)
        if handle is None:
            handle = open(self.log_dir / f"{name}.log", "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            self._files[name] = handle
        return handle

    def write(self, text: str) -> int:
        name = _CURRENT_FUNCTION.name or self.default_name
        with self._lock:
            self._file(name).write(text)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            for handle in self._files.values():
                handle.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def close_files(self) -> None:
        with self._lock:
            for handle in self._files.values():
                handle.close()
            self._files.clear()
