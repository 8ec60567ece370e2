"""The layering rules of docs/architecture.md, checked on the source.

Imports run one way: configs <- components <- commands <- cli. The import graph is read from
the source (top-level, function-level and TYPE_CHECKING imports alike) and must have no
cycle; function-level imports are only those ``curricle.extras.LAZY_IMPORTS`` names; parsing
any shipped config loads no implementation and no torch.
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
    allowed = {"curricle.registry", "curricle.errors"}
    configs = [m for m in MODULES if m == "curricle.config" or m.endswith(".config")]
    assert len(configs) >= 12
    bad = {m: t for m in configs for t, _, _ in imports(m, MODULES[m])
           if t.startswith("curricle.") and t in MODULES and t not in allowed
           and not (t == "curricle.config" or t.endswith(".config"))}
    assert bad == {}


#: Each shipped config, with the loader the CLI reads it with. Left out: ``configs/doremi/main.yaml``
#: reads the proxy run's weights file, which only a run writes; ``configs/post/sft2.yaml`` is
#: read by the pipeline, which adds the rft stage's task to it (the same loader as sft.yaml).
SHIPPED = [
    ("curricle.config:load_config", "configs/tiny.yaml"),
    ("curricle.config:load_config", "configs/doremi/proxy.yaml"),
    ("curricle.finetune.config:load_finetune_config", "configs/finetune.yaml"),
    ("curricle.finetune.config:load_finetune_config", "configs/post/sft.yaml"),
    ("curricle.rl.config:load_rl_config", "configs/post/rl.yaml"),
    ("curricle.rft.config:load_rft_config", "configs/post/rft.yaml"),
    ("curricle.pipeline.config:load_pipeline_config", "configs/post/pipeline.yaml"),
    ("curricle.pipeline.config:load_pipeline_config", "src/curricle/configs/demo-post/pipeline.yaml"),
    ("curricle.finetune.config:load_finetune_config", "src/curricle/configs/demo-post/sft.yaml"),
    ("curricle.rl.config:load_rl_config", "src/curricle/configs/demo-post/grpo.yaml"),
    ("curricle.rft.config:load_rft_config", "src/curricle/configs/demo-post/rft.yaml"),
]

PARSE = """
import importlib, json, sys
import yaml

def loaded():
    return {m for m in sys.modules if m.startswith("curricle")}

import curricle.config as c
out = {"import curricle.config": sorted(loaded())}
# `curricle demo` reads its config as demo_config does; `curricle probe --config` a ProbeConfig
# whose suite names skills at levels of their ladders.
before = loaded()
c.parse_config(yaml.safe_load(open("src/curricle/configs/demo.yaml", encoding="utf-8")), "demo.yaml")
out["demo.yaml"] = sorted(loaded() - before)
before = loaded()
from curricle.probes.config import ProbeConfig
c.parse_model({"suite": {"levels": {"copy": [2, 8], "compose": "all"}}}, ProbeConfig, "probe config")
out["probe config"] = sorted(loaded() - before)
for ref, path in json.loads(sys.argv[1]):
    before = loaded()
    module, _, name = ref.partition(":")
    getattr(importlib.import_module(module), name)(path)
    out[path] = sorted(loaded() - before)
out["heavy"] = sorted(m for m in ("torch", "transformers", "numpy", "pyarrow", "tokenizers", "datasets", "rich")
                      if m in sys.modules)
print(json.dumps(out))
"""


def test_parsing_a_config_imports_no_torch_and_no_component():
    """Every shipped config, read as the CLI reads it, loads only config modules, the packages
    holding them (whose ``__init__`` imports nothing else, or it would be listed) and the
    leaves: no generator, source, scorer or trainer, and no torch or numpy."""
    root = SRC.parent
    r = subprocess.run([sys.executable, "-c", PARSE, json.dumps(SHIPPED)], capture_output=True, text=True,
                       cwd=root)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out.pop("heavy") == []
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    leaves = {"curricle.errors", "curricle.registry"}
    allowed = packages | leaves | {m for m in MODULES if m == "curricle.config" or m.endswith(".config")}
    assert {what: [m for m in mods if m not in allowed] for what, mods in out.items()} == {what: [] for what in out}
    assert list(out) == ["import curricle.config", "demo.yaml", "probe config"] + [path for _, path in SHIPPED]
    # The configs were read (not an empty pass): each stage's config module came in.
    assert {"curricle.train.config", "curricle.controllers.config", "curricle.synthetic.config"} <= set(
        out["import curricle.config"])
    assert "curricle.finetune.config" in out["configs/finetune.yaml"] and "curricle.rl.config" in out[
        "configs/post/rl.yaml"]


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


def _controller_classes() -> set[str]:
    """Names of the classes defined under curricle/controllers/ that are controllers (subclass
    names as written in the source: Controller and every class deriving from a known one)."""
    names = {"Controller"}
    for m, p in MODULES.items():
        if not m.startswith("curricle.controllers"):
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(getattr(b, "id", None) in names for b in node.bases):
                names.add(node.name)
    return names


def test_no_module_outside_controllers_tests_the_class_of_a_controller():
    """Controllers say what they are (role, needs, in_hf_trainer); nothing outside controllers/
    branches on their classes with isinstance."""
    classes = _controller_classes()
    assert {"Controller", "ODM", "ADO", "DoReMi", "HardExamples", "ScheduleController"} <= classes
    offenders = []
    for m, p in MODULES.items():
        if m.startswith("curricle.controllers"):
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance" and len(node.args) == 2:
                second = node.args[1]
                named = {getattr(e, "id", getattr(e, "attr", None)) for e in
                         (second.elts if isinstance(second, ast.Tuple) else [second])}
                if named & classes:
                    offenders.append(f"{p.relative_to(SRC)}:{node.lineno}: {sorted(named & classes)}")
    assert offenders == []


def private_uses(name: str, source: str, package: set[str]) -> list[str]:
    """Where module ``name`` uses a private (leading-underscore) name of another module of
    ``package``: ``from m import _x``, or ``m._x`` on a module it imported."""
    found, aliases = [], {}
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")[: len(name.split(".")) - node.level]
                base = ".".join(parts + ([base] if base else []))
            for a in node.names:
                if f"{base}.{a.name}" in package:
                    aliases[a.asname or a.name] = f"{base}.{a.name}"
                elif base in package and base != name and a.name.startswith("_"):
                    found.append(f"{name}:{node.lineno}: from {base} import {a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name in package:
                    aliases[a.asname or a.name] = a.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = ast.unparse(node.value)
            owner = aliases.get(owner, owner)
            if owner in package and owner != name:
                found.append(f"{name}:{node.lineno}: {owner}.{node.attr}")
    return found


def test_the_private_name_finder_finds_them():
    package = {"p.a", "p.b"}
    assert private_uses("p.a", "from p.b import _x, y", package) == ["p.a:1: from p.b import _x"]
    assert private_uses("p.a", "from p import b\nb._x()", package) == ["p.a:2: p.b._x"]
    assert private_uses("p.a", "import p.b as q\nq._y", package) == ["p.a:2: p.b._y"]
    assert private_uses("p.a", "from . import b\nb._z", package) == ["p.a:2: p.b._z"]
    assert private_uses("p.a", "from p.b import y\nimport p.b\np.b.y\nself._x\nb.__doc__", package) == []


def test_no_report_module_uses_a_private_name_of_another():
    """The report's pages share the HTML kit (``report/kit.py``) and the plot kit
    (``report/plots.py``) through public names only."""
    report = {m for m in MODULES if m.startswith("curricle.report.")}
    assert {"curricle.report.kit", "curricle.report.plots", "curricle.report.page"} <= report
    assert [f for m in sorted(report) for f in private_uses(m, MODULES[m].read_text(encoding="utf-8"), report)] == []


#: The verbs' command modules: ``<stage>/command.py``, and the study's own module.
COMMAND_MODULES = {m for m in MODULES if m.endswith(".command")} | {"curricle.emergence.study"}

#: Composite commands run other verbs as their steps, so they may call those verbs' public
#: functions: demo (curate, prepare, train, probe, map, report), study (prepare, train, probe,
#: map), pipeline (train, finetune, rl, rft), mix-search (prepare, then its proxy training runs)
#: and train (it brings the token store up to date with prepare first).
COMPOSITE_COMMANDS = {"curricle.demo.command", "curricle.emergence.study", "curricle.pipeline.command",
                      "curricle.search.command", "curricle.train.command"}


def command_imports(name: str) -> list[tuple[str, str, int]]:
    """``(command module, name imported from it, line)`` for each import by ``name`` of another
    command module (``import a.command`` gives the name ``*``)."""
    out = []
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, "*", node.lineno) for a in node.names if a.name in COMMAND_MODULES]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            if node.module in COMMAND_MODULES:
                out += [(node.module, a.name, node.lineno) for a in node.names]
            out += [(f"{node.module}.{a.name}", "*", node.lineno) for a in node.names
                    if f"{node.module}.{a.name}" in COMMAND_MODULES]
    return [(m, n, line) for m, n, line in out if m != name]


def test_no_command_module_imports_another_except_composites_their_public_functions():
    """Shared code between commands lives in a component (e.g. ``curricle.posttrain``), never in
    another ``command.py``; a composite command imports the public functions of the verbs it
    runs, by name, and nothing private."""
    assert {"curricle.finetune.command", "curricle.rl.command", "curricle.report.command"} <= COMMAND_MODULES
    offenders = [f"{MODULES[m].relative_to(SRC)}:{line}: {target}.{n}" for m in sorted(COMMAND_MODULES)
                 for target, n, line in command_imports(m)
                 if m not in COMPOSITE_COMMANDS or n == "*" or n.startswith("_")]
    assert offenders == []
    # The check sees imports: the composites do import other verbs.
    assert ("curricle.rl.command", "rl_run") in {(t, n) for t, n, _ in command_imports("curricle.pipeline.command")}
