"""F15: every package the Lambda layer ships, direct or transitive, is pinned to one version and hash."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "layers" / "domain" / "requirements.txt"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, tuple[str, list[str]]]:
    entries: dict[str, tuple[str, list[str]]] = {}
    text = LOCK.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement, *options = line.split()
        name, _, version = requirement.partition("==")
        hashes = [o.split("=", 1)[1] for o in options if o.startswith("--hash=")]
        entries[_canonical(name)] = (version, hashes)
    return entries


def _runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]]


def test_every_locked_package_has_one_version_and_a_hash() -> None:
    locked = _locked()
    assert locked, "the domain layer's lock is empty"
    for name, (version, hashes) in locked.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), f"{name} is not pinned to one version"
        assert hashes and all(h.startswith("sha256:") for h in hashes), f"{name} has no sha256 hash"


def test_the_runtime_dependencies_and_everything_they_need_are_locked() -> None:
    locked = _locked()
    environment = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux", "extra": ""}
    pending = list(_runtime_requirements())
    seen: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = _canonical(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate(environment)):
            continue
        seen.add(name)
        assert name in locked, f"{requirement.name} is needed at run time but not locked"
        try:
            distribution = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue
        for extra in requirement.extras or {""}:
            for dependency in distribution.requires or []:
                parsed = Requirement(dependency)
                if parsed.marker is None or parsed.marker.evaluate({**environment, "extra": extra}):
                    pending.append(parsed)
