"""Kith's StandardMerkleTree against @openzeppelin/merkle-tree 1.0.8 itself, run by node."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shared.airdrops import merkle

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "support" / "merkle_check.js"

pytestmark = pytest.mark.integration


def _run_library(request: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is needed to run @openzeppelin/merkle-tree"
    done = subprocess.run(
        [node, str(SCRIPT)], input=json.dumps(request), capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def _values(count: int, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    return [("0x" + rng.randbytes(20).hex(), rng.choice([1, 10**18, rng.getrandbits(200)])) for _ in range(count)]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 64, 101])
def test_the_library_loads_kiths_dump_verifies_its_proofs_and_builds_the_same_tree(count: int) -> None:
    values = _values(count, seed=count)
    tree = merkle.build(values)
    checks = [[a, str(n), tree.proof(i)] for i, (a, n) in enumerate(values)]
    wrong = [values[0][0], str(values[0][1] + 1), tree.proof(0)]
    answer = _run_library({"values": [[a, str(n)] for a, n in values], "dump": tree.dump(), "checks": [*checks, wrong]})

    assert answer["loadedRoot"] == tree.root
    assert answer["builtRoot"] == tree.root
    assert answer["verified"] == [True] * count + [False]
    assert answer["proofs"] == [tree.proof(i) for i in range(count)]
    assert answer["dump"] == tree.dump()
