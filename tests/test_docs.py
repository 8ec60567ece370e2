"""The docs are tested (STYLE.md rule 12): README.md and docs/*.md say nothing the code refutes.

Each check is a plain function of a Markdown file that returns its problems, one line each
(``README.md:188: ...``), so it also runs on a scratch copy (``test_the_checks_find_planted_errors``).

- **YAML blocks** (:func:`yaml_problems`). Every fenced ``yaml`` block carries a marker on the
  line right before its fence, ``<!-- docs-test: KIND -->``, naming the loader that reads it
  (:data:`VALIDATORS`): ``run`` (``curricle train``'s run config), ``run-section`` (top-level
  sections of a run config, such as ``curate:``, checked inside a run config with one source),
  ``finetune``, ``rl``, ``rft``, ``pipeline``, ``study``, ``probe`` (``curricle probe
  --config``), ``map`` (``curricle map --config``) and ``task`` (a probe task file). The block
  is validated by that config model as the loader would (unknown keys are errors); files the
  block names need not exist. ``<!-- docs-test: shorthand (why) -->`` skips a block that is
  deliberately partial (``levels: [...]``, pieces of two files), and says why. A block without
  a marker, or with an unknown one, is a problem: no block goes untested by accident.
- **CLI lines** (:func:`cli_problems`). Every ``curricle VERB`` (or ``-m curricle.cli VERB``) in
  a code block or inline code names a verb of ``curricle.cli.app``, and every ``--flag`` after
  it, up to a comment or the next command, is one of that verb's options. Arguments
  (``CONFIG``, ``DIR``, paths) are not checked.

The shipped YAML files the README points to are validated where their stage is tested
(``tests/test_cli.py``: ``configs/*.yaml``, ``configs/doremi/proxy.yaml``, ``configs/post/``;
``tests/test_architecture.py`` and ``test_cli.py``: the demo's; ``tests/emergence/test_study.py``:
``examples/*.yaml``); ``configs/doremi/main.yaml``, which reads its proxy's output, is here.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from curricle.config import load_config, parse_config, parse_model
from curricle.emergence.config import MapConfig, StudyConfig
from curricle.errors import CurricleError
from curricle.finetune.config import FinetuneConfig
from curricle.pipeline.config import PipelineConfig
from curricle.probes.config import ProbeConfig
from curricle.rft.config import RFTConfig
from curricle.rl.config import RLConfig

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

MARKER = re.compile(r"^<!--\s*docs-test:\s*(.*?)\s*-->$")
FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")


def _label(md: Path) -> str:
    return str(md.relative_to(ROOT)) if md.is_relative_to(ROOT) else md.name


# --- YAML blocks ---------------------------------------------------------------------------

def _fenced_blocks(lines: list[str]) -> list[tuple[int, str, list[str]]]:
    """(line of the opening fence, 1-based; info string; the lines inside) of every fenced block."""
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i].strip())
        if not m:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(m.group(1)):
            end += 1
        blocks.append((i + 1, m.group(2).lower(), lines[i + 1:end]))
        i = end + 1
    return blocks


def yaml_blocks(text: str) -> list[tuple[int, str | None, str]]:
    """(line of the fence, marker or None, the block's text) of every ``yaml`` block."""
    lines = text.splitlines()
    out = []
    for line, info, body in _fenced_blocks(lines):
        if info in ("yaml", "yml"):
            m = MARKER.match(lines[line - 2].strip()) if line >= 2 else None
            out.append((line, m.group(1) if m else None, "\n".join(body)))
    return out


def _probe_task(data: Any, where: str) -> None:
    from curricle.probes.task import TaskConfig

    tasks = data["tasks"] if isinstance(data, dict) and set(data) == {"tasks"} else [data]
    for i, task in enumerate(tasks):
        parse_model(task, TaskConfig, where if len(tasks) == 1 else f"{where}: tasks.{i}")


def _study(data: Any, where: str) -> None:
    study = parse_model(data, StudyConfig, where)
    for _, variant, seed in study.runs():  # as load_study does: every run's config
        study.run_config(seed, variant)


def _model(model: type) -> Callable[[Any, str], None]:
    return lambda data, where: parse_model(data, model, where)


#: A minimal run config's sources, for ``run-section`` blocks that have none.
ONE_SOURCE = [{"kind": "synthetic", "skill": "copy", "domain": "copy"}]

#: Marker -> how the config it names is validated (raising a one-line CurricleError).
VALIDATORS: dict[str, Callable[[Any, str], None]] = {
    "run": lambda data, where: parse_config(data, where),
    "run-section": lambda data, where: parse_config({"sources": ONE_SOURCE, **data} if isinstance(data, dict)
                                                    else data, where),
    "finetune": _model(FinetuneConfig),
    "rl": _model(RLConfig),
    "rft": _model(RFTConfig),
    "pipeline": _model(PipelineConfig),
    "study": _study,
    "probe": _model(ProbeConfig),
    "map": _model(MapConfig),
    "task": _probe_task,
}


def yaml_problems(md: Path) -> list[str]:
    """Every yaml block of ``md`` is marked, and every block not marked shorthand validates as
    the config its marker names."""
    problems = []
    for line, marker, text in yaml_blocks(md.read_text(encoding="utf-8")):
        at = f"{_label(md)}:{line}"
        if marker is None:
            problems.append(f"{at}: yaml block without a '<!-- docs-test: KIND -->' line before it "
                            f"(KIND: {', '.join(VALIDATORS)}, or 'shorthand (why)')")
            continue
        if marker.startswith("shorthand"):
            if not re.fullmatch(r"shorthand \(.+\)", marker):
                problems.append(f"{at}: a shorthand block says why: 'shorthand (why)'")
            continue
        if marker not in VALIDATORS:
            problems.append(f"{at}: unknown docs-test kind '{marker}' (kinds: {', '.join(VALIDATORS)}, shorthand)")
            continue
        try:
            VALIDATORS[marker](yaml.safe_load(text), f"{marker} block")
        except yaml.YAMLError as err:
            problems.append(f"{at}: not valid YAML ({getattr(err, 'problem', err)})")
        except CurricleError as err:
            problems.append(f"{at}: {err}")
    return problems


# --- CLI lines -----------------------------------------------------------------------------

COMMAND = re.compile(r"(?<![\w./-])curricle(?:\.cli)?\s+([A-Za-z][\w-]*)")
FLAG = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")
END = re.compile(r"\s#|&&|\|\||[;|]")  # a comment or the next shell command
INLINE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)  # CommonMark code spans


def code_snippets(text: str) -> list[tuple[int, str]]:
    """(line, text) of every line of a fenced block (backslash continuations joined) and every
    inline code span outside the blocks (which may run over lines)."""
    lines = text.splitlines()
    snippets, prose = [], list(lines)
    for line, _, body in _fenced_blocks(lines):
        for i in range(line - 1, line + len(body) + 1):
            if i < len(prose):
                prose[i] = ""
        joined, start = "", None
        for i, row in enumerate(body, line + 1):
            start = i if start is None else start
            if row.rstrip().endswith("\\"):
                joined += row.rstrip()[:-1] + " "
                continue
            snippets.append((start, joined + row))
            joined, start = "", None
    rest = "\n".join(prose)
    for m in INLINE.finditer(rest):
        snippets.append((rest.count("\n", 0, m.start()) + 1, m.group(2)))
    return sorted(snippets)


def commands(text: str) -> list[tuple[int, str, list[str]]]:
    """(line, verb, --flags) of every ``curricle VERB ...`` in code."""
    out = []
    for line, snippet in code_snippets(text):
        found = list(COMMAND.finditer(snippet))
        for m, following in zip(found, found[1:] + [None]):
            rest = snippet[m.end():following.start() if following else len(snippet)]
            end = END.search(rest)
            out.append((line, m.group(1), FLAG.findall(rest[:end.start()] if end else rest)))
    return out


@cache
def verb_flags() -> dict[str, set[str]]:
    """Each verb of the CLI -> its ``--`` options (and ``--help``)."""
    import typer.main

    from curricle.cli import app

    group = typer.main.get_command(app)
    return {name: {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")} | {"--help"}
            for name, cmd in group.commands.items()}


def cli_problems(md: Path) -> list[str]:
    """Every ``curricle VERB`` in the code of ``md`` names a verb, and its ``--flags`` are its own."""
    verbs, problems = verb_flags(), []
    for line, verb, flags in commands(md.read_text(encoding="utf-8")):
        at = f"{_label(md)}:{line}"
        if verb not in verbs:
            problems.append(f"{at}: curricle {verb}: no such verb (verbs: {', '.join(sorted(verbs))})")
            continue
        for flag in flags:
            if flag not in verbs[verb]:
                problems.append(f"{at}: curricle {verb} has no {flag} (its flags: "
                                f"{', '.join(sorted(verbs[verb] - {'--help'}))})")
    return problems


# --- The tests -----------------------------------------------------------------------------

@pytest.mark.parametrize("md", DOCS, ids=lambda p: _label(p))
def test_every_yaml_block_is_marked_and_validates(md):
    assert yaml_problems(md) == []


@pytest.mark.parametrize("md", DOCS, ids=lambda p: _label(p))
def test_every_curricle_command_names_a_verb_and_its_flags(md):
    assert cli_problems(md) == []


def test_the_checks_see_the_readme():
    """The checks find what they check: a regression in their parsing would pass silently."""
    text = (ROOT / "README.md").read_text()
    assert sum(1 for _, marker, _ in yaml_blocks(text) if marker in VALIDATORS) >= 1
    found = commands(text)
    assert {"train", "finetune", "rl", "pipeline", "probe", "map", "report"} <= {v for _, v, _ in found}
    assert ["--run-dir"] in [f for _, v, f in found if v == "pipeline"]  # in a yaml comment
    assert any(v == "train" and "--max-steps" in f for _, v, f in found)  # in a table
    assert any(v == "finetune" for _, v, _ in commands("`torchrun -m curricle.cli finetune\n...`"))


def test_the_checks_find_planted_errors(tmp_path):
    """A scratch README with one wrong key in a run block and one unknown flag: each check
    reports exactly that, and the real README has no problem."""
    readme = ROOT / "README.md"
    assert yaml_problems(readme) == [] and cli_problems(readme) == []
    text = readme.read_text()
    run_block = next(line for line, marker, _ in yaml_blocks(text) if marker == "run")
    rft = "`curricle rft CHECKPOINT CONFIG --out FILE`"
    assert text.count("  batch_rows: 8 ") == 1 and text.count(rft) == 2
    planted = text.replace("  batch_rows: 8 ", "  batch_rowz: 8 ").replace(rft, rft.replace("--out", "--outt"), 1)
    flag_line = planted[:planted.index("--outt")].count("\n") + 1
    scratch = tmp_path / "README.md"
    scratch.write_text(planted)
    assert yaml_problems(scratch) == [f"README.md:{run_block}: run block: mixture.batch_rowz: unknown key"]
    assert cli_problems(scratch) == [f"README.md:{flag_line}: curricle rft has no --outt (its flags: --out, --verbose)"]


def test_unmarked_and_unknown_blocks_are_problems(tmp_path):
    md = tmp_path / "x.md"
    md.write_text("```yaml\na: 1\n```\n\n<!-- docs-test: nope -->\n```yaml\na: 1\n```\n"
                  "<!-- docs-test: shorthand -->\n```yaml\n[...]\n```\n"
                  "<!-- docs-test: shorthand (a fragment) -->\n```yaml\n[...]\n```\n"
                  "<!-- docs-test: task -->\n```yaml\ntask: t\noutput_type: multiple_choice\n```\n"
                  "`curricle frobnicate --x` and `python -m curricle.cli map a --out b --config c --verbose`\n")
    problems = yaml_problems(md)
    assert [p.split(": ", 1)[0] for p in problems] == ["x.md:1", "x.md:6", "x.md:10", "x.md:18"]
    assert "without a '<!-- docs-test: KIND -->'" in problems[0] and "unknown docs-test kind 'nope'" in problems[1]
    assert "says why" in problems[2]
    assert problems[3] == "x.md:18: task block: give exactly one of 'dataset' or 'items'"
    verbs = ", ".join(sorted(verb_flags()))
    assert cli_problems(md) == [f"x.md:22: curricle frobnicate: no such verb (verbs: {verbs})"]


def test_the_doremi_main_config_validates_on_its_proxy_weights(tmp_path, monkeypatch):
    """``configs/doremi/main.yaml`` reads the weights its proxy run writes: a stand-in file
    (uniform over its domains) in a scratch working directory lets it load."""
    path = ROOT / "configs" / "doremi" / "main.yaml"
    data = yaml.safe_load(path.read_text())
    proxy = ROOT / "configs" / "doremi" / "proxy.yaml"  # its domains are main's
    domains = sorted({s["domain"] for s in yaml.safe_load(proxy.read_text())["sources"]})
    out = tmp_path / data["mixture"]["schedule"]["weights_from"]
    out.parent.mkdir(parents=True)
    out.write_text(json.dumps({"weights": {d: 1 / len(domains) for d in domains}}))
    monkeypatch.chdir(tmp_path)
    config = load_config(path)
    assert sorted(config.mixture.schedule.weights) == domains == config.domains
