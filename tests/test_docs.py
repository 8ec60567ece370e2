"""The docs are tested (STYLE.md rule 12): README.md and docs/*.md say nothing the code refutes.

Each check is a plain function of a Markdown file that returns its problems, one line each
(``README.md:188: ...``), so it also runs on a scratch copy (``test_the_checks_find_planted_errors``).

- **YAML blocks** (:func:`yaml_problems`). Every fenced ``yaml`` block carries a marker on the
  line right before its fence, ``<!-- docs-test: KIND -->``, naming the loader that reads it
  (:data:`VALIDATORS`): ``run`` (``curricle train``'s run config), ``run-section`` (top-level
  sections of a run config, such as ``curate:``, checked inside a run config with one source),
  ``finetune``, ``rl``, ``rft``, ``dpo``, ``pipeline``, ``study``, ``probe`` (``curricle probe
  --config``), ``map`` (``curricle map --config``), ``drift`` (``curricle drift --config``) and ``task`` (a
  probe task file). The block
  is validated by that config model as the loader would (unknown keys are errors); files the
  block names need not exist. ``<!-- docs-test: shorthand (why) -->`` skips a block that is
  deliberately partial (``levels: [...]``, pieces of two files), and says why. A block without
  a marker, or with an unknown one, is a problem: no block goes untested by accident.
- **CLI lines** (:func:`cli_problems`). Every ``curricle VERB`` (or ``-m curricle.cli VERB``) in
  a code block or inline code names a verb of ``curricle.cli.app``, and every ``--flag`` after
  it, up to a comment or the next command, is one of that verb's options. Arguments
  (``CONFIG``, ``DIR``, paths) are not checked.
- **Images** (:func:`image_problems`, :func:`stale_images`). Every image the docs show exists
  and has an entry in ``docs/images/manifest.json`` (what made it, at which commit, and the
  sha256 of the files that determine it); every entry is shown and exists; and the files'
  hashes are still the recorded ones, so changing the demo config without remaking its
  screenshots (``docs/images/make_demo_images.py``) fails here.

The shipped YAML files the README points to are validated where their stage is tested
(``tests/test_cli.py``: ``configs/*.yaml``, ``configs/doremi/proxy.yaml``, ``configs/post/``;
``tests/test_architecture.py`` and ``test_cli.py``: the demo's; ``tests/emergence/test_study.py``:
``examples/*.yaml``); ``configs/doremi/main.yaml``, which reads its proxy's output, is here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
from functools import cache
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from curricle.selection.config import SelectFile
from curricle.config import load_config, parse_config, parse_model
from curricle.dpo.config import DPOConfig
from curricle.drift.config import parse_drift_config
from curricle.emergence.config import MapConfig, StudyConfig
from curricle.errors import CurricleError
from curricle.finetune.config import FinetuneConfig
from curricle.pipeline.config import PipelineConfig
from curricle.probes.config import ProbeConfig
from curricle.quality.config import QualityTrainConfig
from curricle.rft.config import RFTConfig
from curricle.rl.config import RLConfig

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MANIFEST = ROOT / "docs" / "images" / "manifest.json"

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
    "dpo": _model(DPOConfig),
    "pipeline": _model(PipelineConfig),
    "study": _study,
    "probe": _model(ProbeConfig),
    "map": _model(MapConfig),
    "task": _probe_task,
    "drift": parse_drift_config,
    "quality": _model(QualityTrainConfig),
    "select": lambda data, where: parse_model(data if isinstance(data, dict) and "rule" in data else {"rule": data},
                                              SelectFile, where),
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

    def flags(cmd: Any) -> set[str]:
        return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}

    group = typer.main.get_command(app)
    # A verb with subcommands (`curricle quality train`) takes the flags of each of them.
    return {name: flags(cmd).union(*(flags(sub) for sub in getattr(cmd, "commands", {}).values())) | {"--help"}
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


# --- Images --------------------------------------------------------------------------------

IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)|<img[^>]*\bsrc=[\"']([^\"']+)")


def image_refs(md: Path) -> list[tuple[int, Path]]:
    """(line, path) of every image ``md`` shows, resolved against its directory."""
    text = md.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, (md.parent / (m.group(1) or m.group(2))).resolve())
            for m in IMAGE.finditer(text) if "://" not in (m.group(1) or m.group(2))]


def load_manifest(path: Path = MANIFEST) -> dict[str, dict]:
    """The manifest's entries, by image file name (relative to ``docs/images``)."""
    return json.loads(path.read_text())["images"]


def image_problems(md: Path, manifest: dict[str, dict]) -> list[str]:
    """Every image ``md`` shows exists and has a manifest entry."""
    problems = []
    for line, path in image_refs(md):
        at = f"{_label(md)}:{line}"
        if not path.is_file():
            problems.append(f"{at}: {path.name}: no such image")
        if path.parent != MANIFEST.parent or path.name not in manifest:
            problems.append(f"{at}: {path.name}: not in docs/images/manifest.json")
    return problems


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stale_images(manifest: dict[str, dict]) -> list[str]:
    """Images whose inputs changed since they were made (each input named, with the commit)."""
    problems = []
    for name, entry in manifest.items():
        for rel, recorded in entry["input_sha256"].items():
            path = ROOT / rel
            if not path.is_file():
                problems.append(f"{name}: its input {rel} no longer exists")
            elif sha256(path) != recorded:
                problems.append(f"{name}: {rel} changed since the image was made (at {entry['commit'][:10]}): "
                                f"remake it as docs/images/manifest.json says, and record it there")
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
    rft = "`curricle rft [CHECKPOINT] CONFIG --out FILE`"
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


def test_every_image_shown_is_in_the_manifest():
    manifest = load_manifest()
    assert [p for md in DOCS for p in image_problems(md, manifest)] == []


def test_every_manifest_entry_is_shown_and_complete():
    manifest = load_manifest()
    shown = {path.name for md in DOCS for _, path in image_refs(md)}
    for name, entry in manifest.items():
        assert (MANIFEST.parent / name).is_file(), name
        assert name in shown, f"{name}: in the manifest, shown by no doc"
        assert entry["produced_by"] and re.fullmatch(r"[0-9a-f]{40}", entry["commit"]), name
        assert entry["input_sha256"] and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in entry["input_sha256"].values())


def test_every_image_was_made_from_the_current_inputs():
    """Fails while an image is stale: remake it with its ``produced_by`` (the demo's two with
    ``docs/images/make_demo_images.py``, which also records them)."""
    assert stale_images(load_manifest()) == []


def _make_demo_images():
    spec = importlib.util.spec_from_file_location("make_demo_images", ROOT / "docs" / "images" / "make_demo_images.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("/usr/bin/chromium") is None,
                    reason="Debian's chromium is not installed (tests/report/test_browser.py installs it)")
def test_the_demo_screenshots_show_their_panels(tmp_path):
    """make_demo_images.py's screenshots of a small fake report: the top of the page down to
    the mixture plot, and the skill map's heatmap alone."""
    from PIL import Image

    from curricle.report import write_report
    from tests.report.conftest import write_fake_run

    script = _make_demo_images()
    top, skills = tmp_path / "top.png", tmp_path / "skills.png"
    script.take_screenshots(write_report(write_fake_run(tmp_path / "fake")), top, skills)
    top_w, top_h = Image.open(top).size
    skills_w, skills_h = Image.open(skills).size
    assert top_w == script.WIDTH and 600 < top_h < 1600  # header, losses and the mixture weights: not the page
    assert skills_w < script.WIDTH and 200 < skills_h < 800


def test_the_demo_script_records_what_the_staleness_test_checks(tmp_path, monkeypatch):
    """After make_demo_images.py records an image, the image is not stale: the script and
    this test agree on what an entry holds."""
    script = _make_demo_images()
    scratch = tmp_path / "manifest.json"
    shutil.copy(MANIFEST, scratch)
    monkeypatch.setattr(script, "MANIFEST", scratch)
    script.record(["demo-report.png", "demo-skill-map.png"], "the command")
    entries = load_manifest(scratch)
    assert entries["demo-report.png"]["produced_by"] == "the command"
    assert not [p for p in stale_images(entries) if p.startswith("demo-")]
    assert entries["rl-report.png"] == load_manifest()["rl-report.png"]


def test_the_demo_script_refuses_a_run_that_is_not_the_demo(tmp_path):
    from curricle.report import write_report
    from tests.report.conftest import write_fake_run

    script = _make_demo_images()
    with pytest.raises(SystemExit, match="not found; run `make demo`"):
        script.check_demo(tmp_path / "nothing")
    write_report(write_fake_run(tmp_path), tmp_path / "report.html")
    with pytest.raises(SystemExit, match="is not the config src/curricle/configs/demo.yaml gives now"):
        script.check_demo(tmp_path)
