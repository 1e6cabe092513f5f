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
import logging
import os
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
from typing import Any, TypeVar

from infra.localcloud import environ
from infra.localcloud.intrinsics import (
    ACCOUNT_ID,
    FUNCTION_TYPE,
    REGION,
    SERVERLESS_FUNCTION_TYPE,
    Resolver,
    TemplateError,
    api_id,
    aws_client,
    function_arn,
)
from infra.localcloud.log_routing import CURRENT_FUNCTION, RoutingStream
from infra.localcloud.template import ROOT, Template

__all__ = [
    "ACCOUNT_ID",
    "FUNCTION_TYPE",
    "REGION",
    "SERVERLESS_FUNCTION_TYPE",
    "FunctionError",
    "FunctionHost",
    "FunctionSpec",
    "FunctionTimeout",
    "InvocationStats",
    "LocalLambdaContext",
    "Resolver",
    "RoutingStream",
    "TemplateError",
    "api_id",
    "aws_client",
    "discover_functions",
    "function_arn",
]

log = logging.getLogger("kith.localcloud")

T = TypeVar("T")


class FunctionError(RuntimeError):
    """A handler raised, or could not be loaded; wraps the original exception."""

    def __init__(self, function: str, cause: BaseException) -> None:
        super().__init__(f"{function}: {type(cause).__name__}: {cause}")
        self.function = function
        self.cause = cause


class FunctionTimeout(FunctionError):
    """The handler ran past its declared Timeout; Lambda would have stopped it and reported an error."""


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
        saved_name = CURRENT_FUNCTION.name
        with environ.running_with(env):
            CURRENT_FUNCTION.name = logical_id
            try:
                yield
            finally:
                CURRENT_FUNCTION.name = saved_name

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
