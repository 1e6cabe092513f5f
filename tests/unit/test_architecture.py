"""The house rules of docs/architecture.md, checked on the code itself.

- Contexts are layered: a module imports only its own context and the contexts below it, so a
  reaction that goes upwards (lending warning campaigns, profiles waking segments) has to travel over
  a stream or the event bus, never as a call.
- The import graph of `shared/` is a DAG, with no import inside a function body to hide a cycle
  (heavy optional dependencies aside, each named below).
- No file in `shared/` or `infra/` is over 500 lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# (context, layer): a module may import a context of a lower layer, or its own context; two contexts
# of one layer know nothing of each other.
CONTEXTS: dict[str, tuple[str, int]] = {
    "shared.store": ("kernel", 0),
    "shared.settings": ("kernel", 0),
    "shared.events": ("kernel", 0),
    "shared.retry": ("kernel", 0),
    "shared.egress": ("kernel", 0),
    "shared.tracing": ("kernel", 0),
    "shared.csvsafe": ("kernel", 0),
    "shared.crossing": ("kernel", 0),
    "shared.chain": ("chain", 1),
    "shared.ingest": ("chain", 1),
    "shared.backfill": ("chain", 1),
    "shared.tracking": ("chain", 1),
    "shared.profiles": ("profiles", 2),
    "shared.scoring": ("profiles", 2),
    "shared.contacts": ("contacts", 2),
    "shared.consent": ("contacts", 2),
    "shared.tags": ("contacts", 2),
    "shared.imports": ("contacts", 2),
    "shared.privacy": ("contacts", 2),
    "shared.lending": ("lending", 3),
    "shared.intel": ("intel", 4),
    "shared.churn": ("intel", 4),
    "shared.loyalty": ("intel", 4),
    "shared.labels": ("intel", 4),
    "shared.segments": ("segments", 5),
    "shared.campaigns": ("campaigns", 6),
    "shared.channels": ("campaigns", 6),
    "shared.airdrops": ("airdrops", 6),
    "shared.api": ("api", 7),
    "shared.auth": ("api", 7),
    "shared.audit": ("api", 7),
    "shared.wallets": ("api", 7),
    "shared.overlap": ("api", 7),
    "shared.cli": ("api", 7),
    "shared.cli_airdrops": ("api", 7),
    "shared.cli_base": ("api", 1),
}

# optional heavy dependencies a module may import where it needs them, so the functions that never
# fit a model do not pay for loading them
LAZY_IMPORTS_ALLOWED = frozenset({"numpy", "scipy"})

MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted((ROOT / "shared").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if name != "shared.__init__":
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _context(module: str) -> tuple[str, int]:
    for prefix in sorted(CONTEXTS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return CONTEXTS[prefix]
    raise AssertionError(f"{module} belongs to no context: add it to CONTEXTS")


def _imports(path: Path) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Each import statement of the module, with the innermost known module it names."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node, node.module
            for alias in node.names:
                yield node, f"{node.module}.{alias.name}"


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for _, target in _imports(path):
            if target in MODULES and target != name:
                edges[name].add(target)
    return edges


def test_every_module_belongs_to_a_context() -> None:
    for module in MODULES:
        _context(module)


def test_contexts_import_only_their_own_and_lower_layers() -> None:
    upward = sorted(
        f"{module} ({_context(module)[0]}) imports {target} ({_context(target)[0]})"
        for module, targets in _edges().items()
        for target in targets
        if _context(target)[0] != _context(module)[0] and _context(target)[1] >= _context(module)[1]
    )
    assert not upward, "\n".join(upward)


def test_the_import_graph_has_no_cycle() -> None:
    edges = _edges()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target] if target in trail else [module, target])
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_no_import_inside_a_function_body() -> None:
    hidden: list[str] = []
    for name, path in MODULES.items():
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    roots = {
                        (a.name if isinstance(node, ast.Import) else node.module or "").split(".")[0]
                        for a in node.names
                    }
                    if not roots <= LAZY_IMPORTS_ALLOWED:
                        hidden.append(f"{name}:{node.lineno} in {function.name}(): {ast.unparse(node)}")
    assert not hidden, "\n".join(hidden)


@pytest.mark.parametrize("folder", ["shared", "infra"])
def test_no_file_is_over_500_lines(folder: str) -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, "\n".join(f"{path}: {lines} lines" for path, lines in long.items())
