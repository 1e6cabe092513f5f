"""The Lambda runtime Kith ships on, and what follows from it: the wheels' platform and the glibc ceiling.

The runtime is written once, in template.yaml's Globals (Function.Runtime); the layers' build, the lock
files and the deploy check all read it from there through `template_runtime()`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


@dataclass(frozen=True)
class Runtime:
    name: str  # the Lambda runtime identifier
    python: tuple[int, int]
    os: str
    glibc: tuple[int, int]  # the operating system's glibc: no shipped shared object may need a newer one
    architecture: str = "x86_64"

    @property
    def python_version(self) -> str:
        return f"{self.python[0]}.{self.python[1]}"

    @property
    def abi(self) -> str:
        return f"cp{self.python[0]}{self.python[1]}"

    def platforms(self) -> list[str]:
        """pip's --platform tags, newest first: every manylinux tag the runtime's glibc can load.

        pip expands the legacy manylinux2014 alias itself but not the PEP 600 manylinux_2_N tags, so each
        glibc minor from 2.17 (manylinux2014) up to the runtime's own is named.
        """
        arch = self.architecture
        tags = [f"manylinux_{self.glibc[0]}_{minor}_{arch}" for minor in range(self.glibc[1], 16, -1)]
        return [*tags, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]


# Lambda's managed Python runtimes on x86_64 and the glibc of the Amazon Linux each one runs on.
RUNTIMES: dict[str, Runtime] = {
    "python3.11": Runtime("python3.11", (3, 11), "Amazon Linux 2", (2, 26)),
    "python3.12": Runtime("python3.12", (3, 12), "Amazon Linux 2023", (2, 34)),
    "python3.13": Runtime("python3.13", (3, 13), "Amazon Linux 2023", (2, 34)),
}

_GLOBAL_RUNTIME = re.compile(r"^Globals:\s*\n(?:[ \t].*\n|\s*\n)*?\s+Runtime:\s*(\S+)", re.MULTILINE)


def template_runtime(template: Path = TEMPLATE) -> Runtime:
    """The runtime that template.yaml's Globals give every function."""
    found = _GLOBAL_RUNTIME.search(template.read_text())
    if found is None:
        raise SystemExit(f"error: {template.name} sets no Globals.Function.Runtime")
    name = found.group(1)
    if name not in RUNTIMES:
        raise SystemExit(f"error: runtime {name} is not one Kith knows how to build for: {sorted(RUNTIMES)}")
    return RUNTIMES[name]
