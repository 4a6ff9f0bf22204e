"""The packages form one-way layers and no import cycle: every ``import`` in the source (at module level or inside
a function, where cycles hide) points to the same layer or a lower one.

Layers, lowest first: the core ``mtad_env`` (traits, profiles, metrics, records, the environment, registries),
``agents``, ``simulators``, ``training``, ``evaluation``, and the command line ``mtad_env.cli`` on top. The core
names the simulators and assistants it ships by entry-point strings (:mod:`mtad_env.registry`), never by import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mtad_env", "agents", "simulators", "training", "evaluation")
LAYERS = {"mtad_env": 0, "agents": 1, "simulators": 2, "training": 3, "evaluation": 4, "cli": 5}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _layer(module: str) -> str:
    if module == "mtad_env.__main__" or module == "mtad_env.cli" or module.startswith("mtad_env.cli."):
        return "cli"
    return module.split(".")[0]


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports (``from a.b import c`` counts as ``a.b.c`` when that is a module)."""
    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {resolve(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets |= {resolve(f"{node.module}.{alias.name}") for alias in node.names}
        graph[module] = {t for t in targets if t and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(_modules())


def test_no_import_cycle(graph):
    assert cycles(graph) == []


def test_imports_point_down_the_layers(graph):
    upward = sorted(f"{m} ({_layer(m)}) imports {d} ({_layer(d)})" for m, deps in graph.items() for d in deps
                    if LAYERS[_layer(d)] > LAYERS[_layer(m)])
    assert upward == []


def test_the_checks_catch_a_cycle_and_an_upward_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _layer("mtad_env.factory") == "mtad_env" and _layer("mtad_env.cli.simulate") == "cli"
    assert LAYERS[_layer("simulators.agenda")] > LAYERS[_layer("mtad_env.factory")]


def test_importing_the_core_loads_no_upper_layer():
    import subprocess
    import sys

    code = ("import sys, mtad_env; env = mtad_env.make(seed=0); env.reset(seed=0); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'agents', 'training', 'evaluation'}), "
            "'mtad_env.cli' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["[]", "False"]
