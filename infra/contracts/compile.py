"""Compile Solidity sources offline with solcjs (npm `solc`), cached by the sources' hash."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("solc_standard_json.js")


class CompileError(RuntimeError):
    pass


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed creation code


def compile_sources(sources: list[Path], cache_dir: Path) -> dict[str, Artifact]:
    """Compile every contract in `sources`; returns artifacts by contract name."""
    contents = {path.name: path.read_text() for path in sorted(sources)}
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
