"""Rebuild `Seaport-1.6.json` from Seaport's published source, offline-reproducible.

The source is OpenSea's npm packages `seaport-core@1.6.6` (Seaport 1.6 and its ConduitController) and
`seaport-types@1.6.3`, fetched with `npm pack` and compiled by solcjs 0.8.24 (npm `solc@0.8.24`, the
compiler Seaport 1.6 is released with; later ones run out of stack on its IR) through
`infra/contracts/solc_standard_json.js`. Compiling Seaport through the IR pipeline takes minutes, so the
artifact is committed and tests deploy it as is; run `python -m infra.contracts.seaport.build` after
changing a pin or a setting below.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
DRIVER = ROOT / "infra" / "contracts" / "solc_standard_json.js"
ARTIFACT = Path(__file__).with_name("Seaport-1.6.json")

PACKAGES = {"seaport-core": "1.6.6", "seaport-types": "1.6.3"}
COMPILER = ("solc", "0.8.24")
# Seaport 1.6 keeps its reentrancy guard in transient storage, so it needs Cancun; its own build uses
# the IR pipeline (the legacy one runs out of stack). 200 optimizer runs, not its release's 9,999,999,
# keep it (22.9 KB) under the 24 KiB code-size limit, so any chain deploys it unflagged.
SETTINGS: dict[str, Any] = {
    "viaIR": True,
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "none"},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
}
ENTRY_POINTS = ("seaport-core/src/Seaport.sol", "seaport-core/src/conduit/ConduitController.sol")
WANTED = ("Seaport", "ConduitController")


def _unpack(package: str, version: str, into: Path) -> Path:
    subprocess.run(["npm", "pack", f"{package}@{version}", "--silent"], cwd=into, check=True, capture_output=True)
    target = into / package
    with tarfile.open(into / f"{package}-{version}.tgz") as archive:
        archive.extractall(target, filter="data")
    return target / "package"


def _sources(roots: dict[str, Path]) -> dict[str, dict[str, str]]:
    return {
        f"{package}/{path.relative_to(root).as_posix()}": {"content": path.read_text()}
        for package, root in roots.items()
        for path in sorted(root.rglob("*.sol"))
    }


def build() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        roots = {package: _unpack(package, version, Path(scratch)) for package, version in PACKAGES.items()}
        sources = _sources(roots)
        compiler = _unpack(*COMPILER, Path(scratch))
        subprocess.run(["npm", "install", "--omit=dev", "--no-audit", "--no-fund"], cwd=compiler, check=True)
        (Path(scratch) / "node_modules").mkdir()
        compiler.rename(Path(scratch) / "node_modules" / "solc")
        # node resolves `require("solc")` from the script's folder: the driver runs beside this solc
        driver = shutil.copy(DRIVER, Path(scratch) / DRIVER.name)
        # Seaport imports its types as `seaport-types/src/...` and its own files relatively.
        request = {"language": "Solidity", "sources": sources, "settings": SETTINGS}
        done = subprocess.run(
            ["node", str(driver)], input=json.dumps(request), capture_output=True, text=True, cwd=scratch, check=True
        )
        solc_version = subprocess.run(
            ["node", "-e", "process.stdout.write(require('solc').version())"],
            capture_output=True,
            text=True,
            cwd=scratch,
            check=True,
        ).stdout
    output = json.loads(done.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise RuntimeError("\n".join(errors)[:4000])
    contracts: dict[str, Any] = {}
    for path in ENTRY_POINTS:
        for name, contract in output["contracts"][path].items():
            if name in WANTED:
                contracts[name] = {"abi": contract["abi"], "bytecode": "0x" + contract["evm"]["bytecode"]["object"]}
    settings = {key: value for key, value in SETTINGS.items() if key != "outputSelection"}
    return {"packages": PACKAGES, "solc": solc_version, "settings": settings, "contracts": contracts}


def main() -> None:
    ARTIFACT.write_text(json.dumps(build(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {ARTIFACT}")


if __name__ == "__main__":
    main()
