"""The layering rules of docs/architecture.md, checked on the source.

Imports run one way: configs <- components <- commands <- cli. The import graph is read from
the source (top-level, function-level and TYPE_CHECKING imports alike) and must have no
cycle; function-level imports are only those ``curricle.extras.LAZY_IMPORTS`` names; parsing
a run config loads no implementation and no torch.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from curricle.extras import LAZY_IMPORTS

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "curricle"


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        name = ".".join(p.relative_to(SRC).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


MODULES = modules()


def imports(name: str, path: Path) -> list[tuple[str, bool, int]]:
    """``(imported module, inside a function, line)`` for every import statement of ``path``
    (``from a import b`` counts as ``a`` and, when it is a module, ``a.b``)."""
    out = []

    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                out.extend((a.name, in_function, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(parts[: len(parts) - child.level + 1] + ([base] if base else []))
                out.append((base, in_function, child.lineno))
                out.extend((f"{base}.{a.name}", in_function, child.lineno) for a in child.names
                           if f"{base}.{a.name}" in MODULES)
            walk(child, inside)

    walk(ast.parse(path.read_text(encoding="utf-8")), False)
    return out


def graph() -> dict[str, set[str]]:
    """Module -> the curricle modules it imports (a package's own children excluded: importing
    ``curricle.a.b`` runs ``curricle.a`` first, which is not an edge of ``curricle.a.b``)."""
    g: dict[str, set[str]] = {m: set() for m in MODULES}
    for m, p in MODULES.items():
        for target, _, _ in imports(m, p):
            if target in MODULES and target != m and not m.startswith(target + "."):
                g[m].add(target)
    return g


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_has_no_cycle():
    g = graph()
    assert sum(len(v) for v in g.values()) > 200  # the graph was read (not an empty pass)
    assert cycles(g) == []


def _lazy(module: str) -> bool:
    return any(module == k or module.startswith(k + ".") for k in LAZY_IMPORTS)


def test_function_level_imports_are_only_the_listed_lazy_ones():
    offenders = [f"{MODULES[m].relative_to(SRC)}:{line}: {target}"
                 for m in MODULES for target, in_function, line in imports(m, MODULES[m])
                 if in_function and not _lazy(target)]
    assert offenders == []


def _imports_by_name(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "import_module" or isinstance(f, ast.Name) and f.id in (
                    "__import__", "import_module"):
                return True
    return False


def test_only_the_registry_imports_by_name():
    assert [m for m, p in MODULES.items() if _imports_by_name(p)] == ["curricle.registry"]


def test_the_training_loop_knows_no_controller_or_probe():
    loop = [t for t, _, _ in imports("curricle.train.loop", MODULES["curricle.train.loop"])]
    assert [t for t in loop if t.startswith(("curricle.controllers", "curricle.probes"))] == []
    assert "curricle.train.hooks" in loop  # they hang off the hooks instead


def test_config_modules_import_only_config_modules():
    """A config module imports pydantic, the standard library and other config modules (plus
    the registry and the error type), never a component."""
    allowed = {"curricle.registry", "curricle.errors", "curricle.synthetic"}
    configs = [m for m in MODULES if m == "curricle.config" or m.endswith(".config")]
    assert len(configs) >= 12
    bad = {m: t for m in configs for t, _, _ in imports(m, MODULES[m])
           if t.startswith("curricle.") and t in MODULES and t not in allowed
           and not (t == "curricle.config" or t.endswith(".config"))}
    assert bad == {}


PARSE = """
import json, sys
import curricle.config as c
loaded_on_import = sorted(m for m in sys.modules if m.startswith("curricle"))
c.load_config(sys.argv[1])
print(json.dumps({"torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules,
                  "on_import": loaded_on_import}))
"""


@pytest.mark.parametrize("config", ["configs/tiny.yaml", "src/curricle/configs/demo.yaml"])
def test_parsing_a_config_imports_no_torch_and_no_component(config):
    root = SRC.parent
    r = subprocess.run([sys.executable, "-c", PARSE, str(root / config)], capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["torch"] is False and out["transformers"] is False
    # What `import curricle.config` loads: config modules, the packages holding them, leaves.
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    leaves = {"curricle.errors", "curricle.registry"}
    assert [m for m in out["on_import"] if not (m.endswith(".config") or m in packages or m in leaves)] == []
    assert "curricle.train.config" in out["on_import"] and "curricle.controllers.config" in out["on_import"]


FINETUNE_PARSE = """
import json, sys
from curricle.finetune.config import load_finetune_config
load_finetune_config(sys.argv[1])
print(json.dumps({"torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules,
                  "components": sorted(m for m in sys.modules if m.startswith("curricle") and not (
                      m.endswith(".config") or m in ("curricle.errors", "curricle.registry")))}))
"""


def test_parsing_a_finetune_config_imports_no_torch():
    root = SRC.parent
    r = subprocess.run([sys.executable, "-c", FINETUNE_PARSE, str(root / "configs/finetune.yaml")],
                       capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    assert out["torch"] is False and out["transformers"] is False
    assert [m for m in out["components"] if m not in packages] == []


def test_every_registry_entry_resolves():
    from curricle.cli import COMMANDS
    from curricle.controllers.config import CONTROLLERS
    from curricle.graders.config import GRADERS
    from curricle.mixture.config import SCHEDULES
    from curricle.sources.config import SOURCES
    from curricle.synthetic import GENERATORS
    from curricle.tasks.config import TASK_SOURCES

    for registry in (COMMANDS, CONTROLLERS, SCHEDULES, SOURCES, GENERATORS, GRADERS, TASK_SOURCES):
        for name, impl in registry.items():
            assert callable(impl), (registry.family, name)
        assert set(registry.configs) <= set(registry)
    assert set(CONTROLLERS.configs) == set(CONTROLLERS)  # every controller is chosen by its kind
    assert CONTROLLERS["odm"].__name__ == "ODM" and SOURCES["jsonl"].__module__ == "curricle.sources.jsonl"
