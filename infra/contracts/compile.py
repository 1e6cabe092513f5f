"""Compile Solidity sources offline with solcjs (npm `solc`), cached by the sources' hash."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("solc_standard_json.js")
NODE_MODULES = ROOT / "node_modules"
_IMPORT = re.compile(r"""^\s*import\s+(?:[^"';]*\s+from\s+)?["']([^"']+)["']""", re.MULTILINE)


class CompileError(RuntimeError):
    pass


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed creation code


def compile_sources(sources: list[Path], cache_dir: Path) -> dict[str, Artifact]:
    """Compile every contract in `sources`; returns artifacts by contract name."""
    contents = with_imports({path.name: path.read_text() for path in sorted(sources)})
    digest = hashlib.sha256(json.dumps(contents, sort_keys=True).encode()).hexdigest()[:16]
    cache_file = cache_dir / f"contracts-{digest}.json"
    if cache_file.exists():
        output = json.loads(cache_file.read_text())
    else:
        output = _run_solcjs(contents)
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps(output))
    artifacts: dict[str, Artifact] = {}
    for file_contracts in output["contracts"].values():
        for name, contract in file_contracts.items():
            artifacts[name] = Artifact(name, contract["abi"], "0x" + contract["evm"]["bytecode"]["object"])
    return artifacts


def with_imports(contents: dict[str, str]) -> dict[str, str]:
    """The sources plus every file they import from the pinned node packages (`@openzeppelin/...`),
    transitively, under the names solc asks for. They join the cache key, so a package bump recompiles."""
    found = dict(contents)
    pending = list(contents)
    while pending:
        name = pending.pop()
        for imported in _IMPORT.findall(found[name]):
            resolved = (
                posixpath.normpath(posixpath.join(posixpath.dirname(name), imported))
                if imported.startswith(".")
                else imported
            )
            if resolved in found:
                continue
            path = NODE_MODULES / resolved
            if not path.is_file():
                raise CompileError(f"{name} imports {imported}, which is not in node_modules: run `npm ci`")
            found[resolved] = path.read_text()
            pending.append(resolved)
    return found


def _run_solcjs(contents: dict[str, str]) -> dict[str, Any]:
    if shutil.which("node") is None:
        raise CompileError("node is not installed: install Node.js 18+ and run `make run` again")
    if not (ROOT / "node_modules" / "solc").exists():
        raise CompileError("npm package solc is missing: run `npm ci` (make does this) and try again")
    request = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in contents.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": "paris",
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    completed = subprocess.run(
        ["node", str(DRIVER)], input=json.dumps(request), capture_output=True, text=True, cwd=ROOT, check=False
    )
    if completed.returncode != 0:
        raise CompileError(f"solcjs failed: {completed.stderr.strip()[:500]}")
    output: dict[str, Any] = json.loads(completed.stdout)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("; ".join(e.get("formattedMessage", e.get("message", "")) for e in errors)[:2000])
    return output
