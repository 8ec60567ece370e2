"""The report page: every panel with the right data (read back from the file), graceful gaps,
comparison, and the CLI verbs."""

import re

import pytest
from typer.testing import CliRunner

from curricle.cli import app
from curricle.errors import CurricleError
from curricle.report import PANELS, write_compare, write_report
from tests.report.conftest import embedded, eval_loss, figures, write_fake_run
from tests.report.test_rl_report import write_rl_run


def panels(html_text: str) -> list[str]:
    return re.findall(r'<section id="[^"]+" data-panel="([^"]+)"', html_text)


def traces(fig: dict) -> dict[str, dict]:
    return {t.get("name"): t for t in fig["data"]}


def test_every_panel_with_its_data(fake_run):
    out = write_report(fake_run)
    assert out == fake_run / "report.html"
    text = out.read_text()
    assert panels(text) == list(PANELS)
    data = embedded(text)
    assert data["schema"] == "curricle.report/1" and data["path"] == str(fake_run)
    # what evaluation and probing cost, beside the training tokens
    assert "2k tokens trained + 120 evaluated and probed (5.7% of all)" in text
    figs = figures(text)
    by_name = {k.split("-")[1]: v for k, v in figs.items()}
    assert set(by_name) == {"losses", "mixture", "schedules", "skills", "funnel", "pareto"}
    # The checkpoint table's choice (best-mean: the lowest mean held-out loss) ringed on its Pareto front.
    chosen = [t["name"] for t in by_name["pareto"]["data"] if t["name"].startswith("chosen")]
    assert chosen == [f"chosen: step {data['best_checkpoint']:,}"]

    # Losses: per-domain held-out loss at the evaluation tokens; phase boundary at token 1000.
    loss = by_name["losses"]
    held = [t for t in loss["data"] if t.get("xaxis") == "x2" and t["name"] == "code"]
    assert held[0]["x"] == [1000, 2000] and held[0]["y"] == [eval_loss(10, "code"), eval_loss(20, "code")]
    assert [s["x0"] for s in loss["layout"]["shapes"]] == [1000, 1000]  # one per subplot
    assert [a["text"] for a in loss["layout"]["annotations"] if a["text"] == "main"] == ["main", "main"]
    marks = traces(loss)
    assert marks["skip (1)"]["x"] == [1200] and marks["rollback (1)"]["x"] == [1300]

    # Mixture: stacked weights and the audit marker at the change's tokens.
    mix = traces(by_name["mixture"])
    assert mix["code"]["stackgroup"] == "w" and mix["code"]["y"][15] == 0.7
    assert mix["controller changes (1)"]["x"] == [1500]
    sched = traces(by_name["schedules"])
    assert sched["seq_len"]["y"][9:11] == [32, 64] and sched["lr"]["y"][4] == pytest.approx(0.001)

    # Skill map: skills in emergence order, emergence marker only for the skill that emerged.
    heat = by_name["skills"]["data"][0]
    assert heat["type"] == "heatmap" and heat["y"] == ["copy ✓", "facts"]
    assert heat["z"][0] == [0.0] * 4 + [1.0] * 6 and heat["z"][1] == [0.0] * 10
    emergence = traces(by_name["skills"])["emergence"]
    # Columns are the checkpoints (step 8 is column 3, step 10 column 4); emergence falls between.
    assert emergence["y"] == ["copy ✓"] and 3 <= emergence["x"][0] <= 4
    assert "Emergence order: <b>copy</b>" in text

    # Funnel: kept and dropped per step, summed over domains.
    fun = [t for t in by_name["funnel"]["data"] if t.get("xaxis") in (None, "x")]
    assert {t["name"]: (t["y"], t["x"]) for t in fun} == {"kept": (["read", "dedup"], [15, 10]),
                                                         "dropped": (["read", "dedup"], [0, 5])}
    assert '<td data-v="duplicate" class="text">duplicate</td><td data-v="5">5</td><td data-v="450">450</td>' in text

    # Tables: the audit row links to the mixture plot; the best checkpoint is highlighted.
    mix_id = next(k for k in figs if k.startswith("fig-mixture"))
    assert re.search(rf'<tr class="link" id="audit-0-0" data-fig="{mix_id}" data-x="1500">', text)
    assert re.search(r'<tr data-step="20" class="best">', text)
    assert "odm: EXP3 reward favours code" in text and "code 0.500→0.700" in text
    assert '<td data-v="rollback" class="text">rollback</td>' in text


def test_missing_parts_leave_their_panels_out(tmp_path):
    run_dir = write_fake_run(tmp_path, probes=False, funnel=False, audit=False, events=False, checkpoints=(),
                             hard_examples=False)
    text = write_report(run_dir, tmp_path / "r.html").read_text()
    assert panels(text) == ["losses", "mixture", "checkpoints"]
    assert 'data-missing="skills"' in text and 'data-missing="funnel"' in text
    assert embedded(text)["skills"] is None


def test_a_run_that_has_not_logged_a_step_yet(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("name: early\ntrain: {steps: 100}\n")
    text = write_report(run_dir).read_text()
    assert panels(text) == [] and "step 0 of 100 (0%)" in text and "not finished" in text


def test_in_progress_page_says_how_far(tmp_path):
    text = write_report(write_fake_run(tmp_path, steps=13, total=40, checkpoints=(10,))).read_text()
    assert "step 13 of 40 (32%)" in text and "not finished" in text and "latest checkpoint: step 10" in text


def test_page_needs_nothing_from_the_network(fake_run):
    text = write_report(fake_run).read_text()
    # No external scripts, styles, fonts or images: every src/href is local or an anchor.
    # (plotly.js itself holds CDN addresses for MathJax and map data, used only by plot types
    # the report does not draw; the browser test proves nothing is fetched.)
    assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)="(https?:)?//', text)
    assert text.count("<script>") == 2  # plotly.js and the page's own script, both inline


def test_compare_runs_side_by_side_with_ordering(tmp_path):
    a = write_fake_run(tmp_path / "a")
    b = write_fake_run(tmp_path / "b", audit=False)
    out = write_compare([a, b], tmp_path / "cmp.html")
    text = out.read_text()
    assert panels(text)[:2] == ["overview", "ordering"] and "losses" in panels(text)
    data = embedded(text)
    # Both are named "fake" in directories named "run": the shortest ends of their paths that differ.
    assert [r["label"] for r in data["runs"]] == ["a/run", "b/run"]
    assert all("_probe_rows" not in r for r in data["runs"])
    # Identical skill curves: perfectly consistent order.
    assert data["ordering"]["kendall"]["mean"] == pytest.approx(1.0)
    assert 'data-kendall="1.000000"' in text
    # The audit panel shows run a's log and says run b has none.
    audit = text[text.index('data-panel="audit"'):]
    assert 'data-run="a/run"' in audit and "no controller changed the weights" in audit
    # Loss plots share one y range so side-by-side plots compare by eye.
    ranges = [f["layout"]["yaxis"]["range"] for k, f in figures(text).items() if k.startswith("fig-losses")]
    assert len(ranges) == 2 and ranges[0] == ranges[1]
    with pytest.raises(CurricleError, match="at least two"):
        write_compare([a], tmp_path / "one.html")


def test_cli_report_and_compare(tmp_path):
    a = write_fake_run(tmp_path / "a", probes=False)
    b = write_fake_run(tmp_path / "b")
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(a), "--out", str(tmp_path / "a.html")])
    assert res.exit_code == 0, res.output
    assert "a.html" in res.output and "no skills panel" in res.output
    res = runner.invoke(app, ["compare", str(a), str(b), "--out", str(tmp_path / "c.html")])
    assert res.exit_code == 0 and (tmp_path / "c.html").stat().st_size > 1_000_000
    res = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "error:" in res.output and "no such run directory" in res.output


def test_compare_refuses_a_run_of_another_kind_naming_it(tmp_path):
    a = write_fake_run(tmp_path / "a")
    rl = write_rl_run(tmp_path / "b")
    with pytest.raises(CurricleError) as err:
        write_compare([a, rl], tmp_path / "cmp.html")
    assert str(err.value) == (f"{rl}: a rl run; compare puts pretraining runs side by side "
                              f"(curricle report {rl} draws its own page)")
    assert not (tmp_path / "cmp.html").exists()


def test_an_out_that_cannot_be_the_page_is_one_line_before_any_work(tmp_path):
    a = write_fake_run(tmp_path / "a")
    b = write_fake_run(tmp_path / "b")
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(a), "--out", str(tmp_path)])
    assert (res.exit_code, res.output.strip()) == (
        2, f"error: --out {tmp_path}: is a directory; give the HTML file's path (e.g. {tmp_path / 'report.html'})")
    res = runner.invoke(app, ["report", str(a), "--out", str(tmp_path / "no" / "r.html")])
    assert (res.exit_code, res.output.strip()) == (
        2, f"error: --out {tmp_path / 'no' / 'r.html'}: {tmp_path / 'no'} is not a directory")
    res = runner.invoke(app, ["compare", str(a), str(b), "--out", str(tmp_path)])
    assert (res.exit_code, res.output.strip()) == (
        2, f"error: --out {tmp_path}: is a directory; give the HTML file's path (e.g. {tmp_path / 'compare.html'})")
    assert not (a / "report.html").exists()


def test_the_funnel_panel_lists_the_pipeline_in_order_with_user_steps_errors_and_licences(tmp_path):
    import json

    from tests.report.conftest import FUNNEL

    def step(name, n_in, dropped):
        kept = n_in - sum(dropped.values())
        return {"step": name, "docs": {"in": n_in, "kept": kept, "dropped": dropped, "rewritten": 0},
                "tokens": {"in": n_in * 10, "kept": kept * 10, "dropped": {r: n * 10 for r, n in dropped.items()},
                           "removed_by_rewrite": 0}, "replaced": {}}

    run_dir = write_fake_run(tmp_path)
    funnel = {**FUNNEL, "domains": {"web": {"in": {"docs": 10, "tokens": 100}, "out": {"docs": 5, "tokens": 50},
                                            "files": [], "steps": [
        step("read", 10, {}), step("drop_ads", 10, {"advert": 2, "error": 1}), step("license", 7, {"license": 2}),
        step("exact-dedup", 5, {})]}},
        "pipeline": [{"step": "read", "kind": "read"},
                     {"step": "drop_ads", "kind": "python", "ref": "my_filters:drop_ads"},
                     {"step": "blocklist", "kind": "blocklist"},  # ran on no domain
                     {"step": "license", "kind": "license"}, {"step": "exact-dedup", "kind": "exact-dedup"}],
        "licenses": [{"license": "cc-by-4.0", "in": 6, "kept": 5, "dropped": {"advert": 1}, "tokens_kept": 50},
                     {"license": None, "in": 4, "kept": 0, "dropped": {"license": 2, "advert": 1, "error": 1},
                      "tokens_kept": 0}]}
    (tmp_path / "curated" / "funnel.json").write_text(json.dumps(funnel))
    text = write_report(run_dir).read_text()

    rows = re.findall(r'<tr data-curate-step="([^"]+)">(.*?)</tr>', text)
    cells = [(name, re.findall(r'<td data-v="([^"]*)"', row)) for name, row in rows]
    assert cells == [
        ("read", ["0", "read", "read", "10", "10", "0", "0", ""]),
        ("drop_ads", ["1", "drop_ads", "python my_filters:drop_ads", "10", "7", "2", "1", "advert 2"]),
        ("blocklist", ["2", "blocklist", "blocklist", "", "", "", "", ""]),
        ("license", ["3", "license", "license", "7", "5", "2", "0", "license 2"]),
        ("exact-dedup", ["4", "exact-dedup", "exact-dedup", "5", "5", "0", "0", ""]),
    ]
    assert ('<td data-v="(none)" class="text">(none)</td><td data-v="4">4</td><td data-v="0">0</td>'
            '<td data-v="4">4</td><td data-v="license 2, advert 1, error 1" class="text">') in text
    # The funnel figure's steps follow the pipeline too.
    fun = next(v for k, v in figures(text).items() if k.startswith("fig-funnel"))
    assert fun["data"][0]["y"] == ["read", "drop_ads", "license", "exact-dedup"]
