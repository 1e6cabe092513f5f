"""The Lambda layers: locked for Lambda's platform, built from the lock, with bytecode that stays valid.

    python -m infra.deploy.layers lock                  # rewrite layers/<name>/requirements.txt
    python -m infra.deploy.layers build domain DIR      # what `sam build` runs (layers/<name>/Makefile)

The lock is resolved for the runtime in template.yaml, not for this host: pip is told the runtime's
Python version, its manylinux platform tags (no wheel newer than the runtime's glibc) and to accept
wheels only, and every pin carries the sha256 of the exact wheel it resolved to. The build installs
from the lock with `--require-hashes`, the same platform flags and `--no-deps`, so a host with another
Python, macOS or arm64 gets the same bytes, or a clear error.

Bytecode is compiled with `--invalidation-mode unchecked-hash`: Lambda's /opt is read-only, so a
timestamp-checked .pyc whose source mtime changed in the zip would be recompiled on every cold start;
an unchecked-hash .pyc is used as is. Compiling needs the runtime's own Python version (a .pyc is
specific to it), which is why the build refuses to run under another one.

The third-party part of each layer is cached by the hash of its lock, platform and build recipe
(`.aws-sam/kith-layers/`); `shared/` is copied and compiled afresh on every build, so a change to the
code always ships (samconfig.toml turns SAM's own cache off: it cannot see `shared/` changing).
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from infra.deploy.runtime import ROOT, Runtime, template_runtime

LAYERS_DIR = ROOT / "layers"
CACHE_DIR = ROOT / ".aws-sam" / "kith-layers"
# where Lambda mounts a layer's python/ folder: the path compiled into tracebacks
LAMBDA_LAYER_PATH = "/opt/python"
# bump when the recipe below changes what a cached build contains
RECIPE = "2"
# Folders no handler imports at run time: test suites and type stubs are most of scipy's and numpy's bulk.
STRIP_DIRS = frozenset({"tests", "__pycache__"})
STRIP_SUFFIXES = (".pyi", ".pyx", ".pxd", ".c", ".cpp", ".h")
SOURCE_PACKAGES = {"domain": ("shared",), "science": ()}


@dataclass(frozen=True)
class Layer:
    name: str  # domain | science

    @property
    def lock(self) -> Path:
        return LAYERS_DIR / self.name / "requirements.txt"

    def requirements(self) -> list[str]:
        """The pins this layer ships, as pyproject.toml states them (the one list of them)."""
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        if self.name == "domain":
            return list(project["dependencies"])
        if self.name == "science":
            return [r for r in project["optional-dependencies"]["fit"] if not r.startswith("kith")]
        raise SystemExit(f"error: no layer {self.name!r}: choose one of {sorted(SOURCE_PACKAGES)}")


LAYERS = [Layer("domain"), Layer("science")]


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them: aws_lambda_powertools == aws-lambda-powertools."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_platform_args(runtime: Runtime) -> list[str]:
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", runtime.python_version]
    args += ["--abi", runtime.abi, "--abi", "abi3", "--abi", "none"]
    for platform in runtime.platforms():
        args += ["--platform", platform]
    return args


def _pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]


def resolve(requirements: list[str], runtime: Runtime) -> list[tuple[str, str, str]]:
    """(name, version, sha256 of the wheel) of every distribution the requirements need on `runtime`."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = _pip(
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--target",
            str(Path(scratch) / "target"),
            "--report",
            str(report),
            *pip_platform_args(runtime),
            *requirements,
        )
        subprocess.run(command, check=True)
        installs = json.loads(report.read_text())["install"]
    pins = []
    for entry in installs:
        hashes = entry["download_info"].get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            raise SystemExit(f"error: pip reported no sha256 for {entry['metadata']['name']}")
        pins.append((normalize(entry["metadata"]["name"]), entry["metadata"]["version"], hashes["sha256"]))
    return sorted(pins)


def write_lock(layer: Layer, runtime: Runtime, exclude: set[str]) -> list[tuple[str, str, str]]:
    pins = [p for p in resolve(layer.requirements(), runtime) if p[0] not in exclude]
    glibc = f"{runtime.glibc[0]}.{runtime.glibc[1]}"
    lines = [
        f"# {layer.name} layer, locked for Lambda {runtime.name} ({runtime.os}, glibc {glibc}, {runtime.architecture})",
        "# from pyproject.toml by `python -m infra.deploy.layers lock` (make lock); do not edit by hand.",
    ]
    for name, version, digest in pins:
        lines.append(f"{name}=={version} \\\n    --hash=sha256:{digest}")
    layer.lock.write_text("\n".join(lines) + "\n")
    return pins


def lock_all() -> None:
    runtime = template_runtime()
    shipped: set[str] = set()
    for layer in LAYERS:
        # a distribution the domain layer already ships is not shipped twice: every function has that layer
        pins = write_lock(layer, runtime, exclude=shipped)
        shipped |= {name for name, _, _ in pins}
        print(f"wrote {layer.lock.relative_to(ROOT)}: {len(pins)} distributions for {runtime.name}")


def locked_pins(layer: Layer) -> dict[str, str]:
    """{name: version} as the lock file pins them."""
    pins = {}
    for line in layer.lock.read_text().splitlines():
        line = line.strip()
        if "==" in line and not line.startswith("#"):
            name, version = line.split(" ", 1)[0].split("==")
            pins[normalize(name)] = version
    return pins


def lock_drift(layer: Layer) -> list[str]:
    """The pyproject.toml pins the lock file does not carry at the same version (empty when in step)."""
    locked = locked_pins(layer)
    drift = []
    for requirement in layer.requirements():
        spec = requirement.split(";")[0].strip()
        if "==" not in spec:
            drift.append(f"{spec}: pyproject.toml must pin it exactly")
            continue
        name, version = spec.split("==")
        name = normalize(name.split("[")[0].strip())
        if locked.get(name) != version.strip():
            drift.append(f"{name}=={version.strip()} (the lock has {locked.get(name, 'nothing')})")
    return drift


def _cache_key(layer: Layer, runtime: Runtime) -> str:
    digest = hashlib.sha256()
    for part in (RECIPE, runtime.name, " ".join(pip_platform_args(runtime)), layer.lock.read_text()):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:20]


def _strip(tree: Path) -> None:
    for path in sorted(tree.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in STRIP_DIRS:
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in STRIP_SUFFIXES:
            path.unlink()
    shutil.rmtree(tree / "bin", ignore_errors=True)  # console scripts: nothing in Lambda runs them


def _compile(tree: Path, ddir: str) -> None:
    ok = compileall.compile_dir(
        str(tree),
        ddir=ddir,
        quiet=1,
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise SystemExit(f"error: compiling {tree} failed")


def _third_party(layer: Layer, runtime: Runtime) -> Path:
    """The installed, stripped and compiled dependencies of `layer`, built once per lock."""
    cached = CACHE_DIR / f"{layer.name}-{_cache_key(layer, runtime)}"
    if cached.is_dir():
        return cached
    drift = lock_drift(layer)
    if drift:
        raise SystemExit(
            f"error: {layer.lock.relative_to(ROOT)} is out of step with pyproject.toml: {'; '.join(drift)}; "
            "run `make lock`"
        )
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{layer.name}-", dir=CACHE_DIR))
    try:
        target = scratch / "python"
        subprocess.run(
            _pip(
                "install",
                "--quiet",
                "--no-deps",
                "--require-hashes",
                "--target",
                str(target),
                *pip_platform_args(runtime),
                "-r",
                str(layer.lock),
            ),
            check=True,
        )
        _strip(target)
        _compile(target, LAMBDA_LAYER_PATH)
        for stale in CACHE_DIR.glob(f"{layer.name}-*"):
            if stale != scratch and stale.is_dir() and len(stale.name) == len(cached.name):
                shutil.rmtree(stale)  # an older lock's build: never used again
        scratch.rename(cached)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return cached


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:  # another file system
        shutil.copy2(source, destination)


def build(layer: Layer, artifacts: Path) -> None:
    runtime = template_runtime()
    if sys.version_info[:2] != runtime.python:
        raise SystemExit(
            f"error: the {layer.name} layer's bytecode must be compiled by Python {runtime.python_version} "
            f"(the {runtime.name} runtime), but this is Python {sys.version_info[0]}.{sys.version_info[1]}: "
            f"run the build with python{runtime.python_version}"
        )
    target = artifacts / "python"
    if target.exists():
        shutil.rmtree(target)
    # hard links: the cache's files are never written again, and a layer is ~60-170 MB to copy otherwise
    shutil.copytree(_third_party(layer, runtime) / "python", target, symlinks=True, copy_function=_link_or_copy)
    for package in SOURCE_PACKAGES[layer.name]:
        copied = target / package
        shutil.copytree(ROOT / package, copied, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        _compile(copied, f"{LAMBDA_LAYER_PATH}/{package}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy.layers", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("lock", help="resolve pyproject.toml's pins for the runtime and write the lock files")
    commands.add_parser("check-lock", help="fail if a lock file is out of step with pyproject.toml")
    build_parser = commands.add_parser("build", help="build one layer into DIR/python (sam build calls this)")
    build_parser.add_argument("layer", choices=[layer.name for layer in LAYERS])
    build_parser.add_argument("artifacts", type=Path, nargs="?", default=os.environ.get("ARTIFACTS_DIR"))
    args = parser.parse_args(argv)
    if args.command == "lock":
        lock_all()
    elif args.command == "check-lock":
        problems = [f"{layer.lock.relative_to(ROOT)}: {d}" for layer in LAYERS for d in lock_drift(layer)]
        for problem in problems:
            print(f"error: {problem}; run `make lock`", file=sys.stderr)
        return 1 if problems else 0
    else:
        if args.artifacts is None:
            parser.error("give the artifacts folder (sam build sets ARTIFACTS_DIR)")
        build(Layer(args.layer), Path(args.artifacts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
