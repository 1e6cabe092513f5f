"""`make deploy-check`: what `sam build` produces must deploy to Lambda and start within budget.

    python -m infra.deploy.check [--skip-build]

1. `sam validate --lint`, then `sam build` (the layers come from infra/deploy/layers.py).
2. Every function plus its layers is at most Lambda's 262,144,000 bytes unzipped.
3. No shared object in any layer or function needs a GLIBC symbol version newer than the runtime's.
4. Every handler imports in a clean interpreter (-I -S) with only its function folder and its layers'
   python/ folders on sys.path, in a Lambda-like environment built from the template.
5. Cold-import CPU per handler is printed (the best of several fresh processes); the authorizer
   (on every uncached request) must stay within 0.3 s and the API within 1.0 s on this machine.
6. Every function's environment, with realistic lengths for the values CloudFormation fills in, stays
   under Lambda's 4 KB.
7. cfn-lint is clean including its informational checks; exceptions are in the template, justified.

This is a build check, not a test: its timings are budgets for this machine, taken as the best of
several runs so a busy neighbour does not fail it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.deploy.elf import is_elf, max_glibc
from infra.deploy.runtime import ROOT, TEMPLATE, Runtime, template_runtime

BUILD_DIR = ROOT / ".aws-sam" / "build"
UNZIPPED_LIMIT = 262_144_000  # Lambda: function code plus all its layers, unzipped
ENVIRONMENT_LIMIT = 4096  # Lambda: the environment variables' keys and values together
# CPU seconds to import the handler module (cold start, before the first request), on this machine
IMPORT_BUDGETS = {"AuthorizerFunction": 0.3, "ApiFunction": 1.0}
RUNS_BUDGETED = 5
RUNS_OTHERS = 2
# what CloudFormation puts where the template says !Ref / !GetAtt, at a realistic length
_PLACEHOLDER_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/kith-{name}-AbCdEfGhIjKl"
_PLACEHOLDER_NAME = "kith-{name}-AbCdEfGhIjKl"

_IMPORT_PROBE = """
import sys, time
sys.path[:0] = {paths!r}
started = time.process_time()
import handler
elapsed = time.process_time() - started
assert callable(getattr(handler, {function!r}, None)), "no handler function {function}"
print(elapsed)
"""


class CheckFailed(RuntimeError):
    pass


@dataclass
class Function:
    logical_id: str
    handler: str
    layers: list[str]
    environment: dict[str, str]

    @property
    def code_dir(self) -> Path:
        return BUILD_DIR / self.logical_id

    def layer_dirs(self) -> list[Path]:
        return [BUILD_DIR / layer / "python" for layer in self.layers]


def _run(command: list[str], what: str) -> None:
    started = time.monotonic()
    print(f"$ {' '.join(command)}", flush=True)
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stdout.write(result.stdout[-4000:])
        sys.stderr.write(result.stderr[-4000:])
        raise CheckFailed(f"{what} failed (exit {result.returncode})")
    print(f"  ok ({time.monotonic() - started:.0f} s)", flush=True)


def _sam() -> str:
    local = Path(sys.executable).parent / "sam"
    return str(local) if local.exists() else "sam"


def _template() -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    parsed: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return parsed


def _parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    return {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}


def _placeholder(value: Any, template: dict[str, Any]) -> str:
    """A template value as CloudFormation would fill it in, at a realistic length."""
    if isinstance(value, str | int | float | bool):
        return str(value).lower() if isinstance(value, bool) else str(value)
    defaults = _parameter_defaults(template)
    resources = template.get("Resources", {})

    def ref(name: str) -> str:
        if name in defaults:
            return defaults[name]
        if name.startswith("AWS::"):
            return {"AWS::Region": "us-east-1", "AWS::StackName": "kith", "AWS::AccountId": "123456789012"}.get(
                name, "aws"
            )
        kind = resources.get(name, {}).get("Type", "")
        if kind == "AWS::SQS::Queue":
            return _PLACEHOLDER_QUEUE.format(name=name)
        return _PLACEHOLDER_NAME.format(name=name)

    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return ref(str(arg))
        if key == "Fn::GetAtt":
            name = arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
            return f"arn:aws:service:us-east-1:123456789012:{_PLACEHOLDER_NAME.format(name=name)}"
        if key == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0]
            out = str(text)
            while "${" in out:
                start = out.index("${")
                end = out.index("}", start)
                inner = out[start + 2 : end]
                out = out[:start] + ref(inner.split(".")[0]) + out[end + 1 :]
            return out
    raise CheckFailed(f"cannot stand in for {value!r} in a function's environment")


def functions(template: dict[str, Any]) -> list[Function]:
    defaults = template.get("Globals", {}).get("Function", {})
    global_layers = [layer["Ref"] for layer in defaults.get("Layers", [])]
    global_env = defaults.get("Environment", {}).get("Variables", {})
    found = []
    for logical, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        layers = global_layers + [layer["Ref"] for layer in props.get("Layers", [])]
        variables = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        environment = {k: _placeholder(v, template) for k, v in variables.items()}
        found.append(Function(logical, str(props["Handler"]), layers, environment))
    return found


def tree_size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def check_sizes(funcs: list[Function]) -> list[str]:
    problems = []
    layer_sizes: dict[str, int] = {}
    print("\nunzipped size, function plus layers (Lambda's limit: 262,144,000 bytes)")
    for fn in funcs:
        code = tree_size(fn.code_dir)
        for layer in fn.layers:
            if layer not in layer_sizes:
                layer_sizes[layer] = tree_size(BUILD_DIR / layer)
        total = code + sum(layer_sizes[layer] for layer in fn.layers)
        flag = "" if total <= UNZIPPED_LIMIT else "  OVER THE LIMIT"
        print(f"  {fn.logical_id:24} {total:>13,} bytes ({code:,} code + {', '.join(fn.layers)}){flag}")
        if total > UNZIPPED_LIMIT:
            problems.append(f"{fn.logical_id} is {total:,} bytes unzipped, over {UNZIPPED_LIMIT:,}")
    for layer, size in sorted(layer_sizes.items()):
        print(f"  layer {layer:18} {size:>13,} bytes")
    return problems


def check_glibc(funcs: list[Function], runtime: Runtime) -> list[str]:
    problems = []
    ceiling = runtime.glibc
    folders = sorted({*(fn.code_dir for fn in funcs), *(d.parent for fn in funcs for d in fn.layer_dirs())})
    print(f"\nshared objects against {runtime.name}'s glibc {ceiling[0]}.{ceiling[1]} ({runtime.os})")
    for folder in folders:
        objects = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p)]
        newest: tuple[int, ...] = ()
        for path in objects:
            needed = max_glibc(path)
            if needed is None:
                continue
            newest = max(newest, needed)
            if needed[:2] > ceiling:
                version = ".".join(map(str, needed))
                problems.append(f"{path.relative_to(ROOT)} needs GLIBC_{version}, newer than {runtime.os}'s")
        newest_text = "GLIBC_" + ".".join(map(str, newest)) if newest else "no GLIBC symbols"
        print(f"  {folder.relative_to(ROOT)}: {len(objects)} shared objects, newest need {newest_text}")
    return problems


def _import_cpu(fn: Function, runtime: Runtime) -> float:
    module, function = fn.handler.rsplit(".", 1)
    if module != "handler":
        raise CheckFailed(f"{fn.logical_id}: the check expects handler.<function>, found {fn.handler}")
    paths = [str(fn.code_dir), *(str(d) for d in fn.layer_dirs())]
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        # what Lambda sets in every function's process
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": f"kith-{fn.logical_id}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime.name}",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/kith-{fn.logical_id}",
        "LAMBDA_TASK_ROOT": str(fn.code_dir),
        "_HANDLER": fn.handler,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "deploy-check",
        "AWS_SESSION_TOKEN": "deploy-check",
        **fn.environment,
    }
    probe = _IMPORT_PROBE.format(paths=paths, function=function)
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], env=environment, capture_output=True, text=True, cwd="/"
    )
    if result.returncode != 0:
        raise CheckFailed(f"{fn.logical_id}: `import handler` failed:\n{result.stderr[-3000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def check_imports(funcs: list[Function], runtime: Runtime) -> list[str]:
    if sys.version_info[:2] != runtime.python:
        return [f"the import check needs Python {runtime.python_version} ({runtime.name}); this is {sys.version}"]
    problems = []
    print(f"\ncold import, CPU seconds (best of {RUNS_BUDGETED} for budgeted handlers, {RUNS_OTHERS} for others)")
    for fn in funcs:
        budget = IMPORT_BUDGETS.get(fn.logical_id)
        try:
            runs = [_import_cpu(fn, runtime) for _ in range(RUNS_BUDGETED if budget else RUNS_OTHERS)]
        except CheckFailed as exc:
            problems.append(str(exc))
            print(f"  {fn.logical_id:24}  IMPORT FAILED")
            continue
        best = min(runs)
        verdict = "" if budget is None else (f"  (budget {budget:.1f} s)" if best <= budget else "  OVER BUDGET")
        print(f"  {fn.logical_id:24} {best:6.3f} s{verdict}")
        if budget is not None and best > budget:
            problems.append(f"{fn.logical_id} imports in {best:.3f} s of CPU, over its {budget:.1f} s budget")
    return problems


def check_environment(funcs: list[Function]) -> list[str]:
    problems = []
    largest = max(funcs, key=lambda f: sum(len(k) + len(v) for k, v in f.environment.items()))
    size = sum(len(k) + len(v) for k, v in largest.environment.items())
    print(f"\nlargest environment: {largest.logical_id}, {size:,} of {ENVIRONMENT_LIMIT:,} bytes")
    for fn in funcs:
        total = sum(len(k) + len(v) for k, v in fn.environment.items())
        if total > ENVIRONMENT_LIMIT:
            problems.append(f"{fn.logical_id}'s environment is {total} bytes, over Lambda's {ENVIRONMENT_LIMIT}")
    return problems


def check_cfn_lint() -> list[str]:
    command = [str(Path(sys.executable).parent / "cfn-lint"), "--include-checks", "I", "--", str(TEMPLATE)]
    print(f"\n$ {' '.join(command)}")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stdout.write(result.stdout)
        return [f"cfn-lint with informational checks found problems (exit {result.returncode})"]
    print("  ok")
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy.check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-build", action="store_true", help="check the existing .aws-sam/build as it is")
    args = parser.parse_args(argv)
    runtime = template_runtime()
    started = time.monotonic()
    try:
        if not args.skip_build:
            _run([_sam(), "validate", "--lint"], "sam validate --lint")
            _run([_sam(), "build"], "sam build")
        funcs = functions(_template())
        problems = [
            *check_sizes(funcs),
            *check_glibc(funcs, runtime),
            *check_imports(funcs, runtime),
            *check_environment(funcs),
            *check_cfn_lint(),
        ]
    except CheckFailed as exc:
        problems = [str(exc)]
    print()
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"deploy check passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
