"""The drift page: ``curricle drift`` on two small literal stores with a planted change, then
``curricle report OUT``: the verdict, the flagged check first, the figures each section has, the
lineage's exact counts, a section the page has no figure for shown as rows, and the page opening
offline."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from curricle.cli import app
from curricle.report.command import report_command
from curricle.report.drift import PANELS, ranked
from curricle.report.kind import run_kind
from tests.conftest import write_store
from tests.drift.test_compare import zipf_docs
from tests.report.conftest import embedded, figures
from tests.report.test_browser import close, open_page
from tests.report.test_kinds import quiet


@pytest.fixture(scope="module")
def drift_out(tmp_path_factory):
    """``curricle drift A PLANTED --out OUT``: NEW's prose lost 10 documents and a fifth of the
    rest come from another vocabulary and are longer; code is the other half of the same data."""
    rng = np.random.default_rng(0)
    base = {"code": zipf_docs(rng, 400, 200), "prose": zipf_docs(rng, 400, 300, offset=200)}
    root = tmp_path_factory.mktemp("drift-report")
    a = write_store(root / "a", {d: docs[0::2] for d, docs in base.items()})
    planted = write_store(root / "planted", {
        "code": base["code"][1::2],
        "prose": base["prose"][1::2][:150] + zipf_docs(rng, 40, 300, offset=600, length=(60, 120))})
    out = root / "out"
    res = CliRunner().invoke(app, ["drift", str(a), str(planted), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_the_page_names_the_verdict_and_the_flagged_checks_worst_first(drift_out):
    assert run_kind(drift_out) == "drift"
    res = CliRunner().invoke(app, ["report", str(drift_out)])  # the README's line: curricle report OUT
    assert res.exit_code == 0, res.output
    assert "drift verdict DRIFT" in res.output
    text = (drift_out / "report.html").read_text()
    data = embedded(text)
    result = json.loads((drift_out / "drift.json").read_text())
    assert data["schema"] == "curricle.drift-report/1" and data["verdict"] == result["verdict"] == "DRIFT"
    assert data["missing"] == {}
    assert [p for p in PANELS if f'data-panel="{p}"' in text] == list(PANELS)
    assert 'data-verdict="DRIFT"' in text and f'<b data-count="DRIFT">{result["counts"]["DRIFT"]}</b>' in text

    # The flagged table lists exactly drift.json's flagged checks, in its order (worst first).
    flagged = text[text.index('data-panel="drift_flagged"'):text.index('data-panel="drift_z"')]
    rows = [r.split('"', 1)[0] for r in flagged.split('<tr data-check="')[1:]]
    assert rows == [f"{d['section']}: {d['statistic']}/{d['domain'] or ''}" for d in result["drifted"]]
    assert [f"{c['section']}: {c['statistic']}/{c['domain'] or ''}" for c in ranked(result["checks"])] == rows
    assert "tokens: unigram_js/prose" in rows and "metadata: wasserstein/n_tokens/prose" in rows
    assert rows.index("tokens: unigram_js/prose") < sum(d["verdict"] == "DRIFT" for d in result["drifted"])
    assert not any(r.startswith(("tokens", "metadata")) and r.endswith("/code") for r in rows)

    figs = figures(text)
    kinds = {k.split("-")[1] + "-" + k.split("-")[2] for k in figs}
    assert kinds == {"drift-z", "drift-mixture", "drift-quantiles", "drift-lineage"}
    heat = next(f for k, f in figs.items() if k.startswith("fig-drift-z-heatmap"))["data"][0]
    cell = heat["z"][heat["y"].index("prose")][heat["x"].index("tokens: unigram_js")]
    assert cell == 2  # DRIFT's colour
    assert heat["z"][heat["y"].index("code")][heat["x"].index("tokens: unigram_js")] == 0
    points = next(f for k, f in figs.items() if k.startswith("fig-drift-z-points"))
    assert sorted(s["x0"] for s in points["layout"]["shapes"]) == [2.0, 3.0]  # the WARN and DRIFT lines
    mix = next(f for k, f in figs.items() if k.startswith("fig-drift-mixture"))["data"]
    shares = {c["domain"]: c["detail"] for c in result["checks"] if c["statistic"] == "share"}
    assert mix[0]["x"] == ["code", "prose"] and mix[0]["y"] == [shares["code"]["old"], shares["prose"]["old"]]
    assert mix[1]["y"] == [shares["code"]["new"], shares["prose"]["new"]]
    lin = next(f for k, f in figs.items() if k.startswith("fig-drift-lineage"))["data"]
    assert {t["name"]: t["y"] for t in lin} == {"retained": [200, 190], "added": [0, 0], "removed": [0, 10]}
    # the tokens table: prose's most moved token is planted vocabulary's most frequent one (600)
    tokens = text[text.index('data-panel="drift_tokens"'):text.index('data-panel="drift_lineage"')]
    first = tokens.index('<td data-v="prose" class="text">prose</td>')
    assert tokens[first:].startswith('<td data-v="prose" class="text">prose</td><td data-v="600">')


def test_a_section_without_figures_shows_as_rows_and_missing_panels_are_named(drift_out, tmp_path):
    result = json.loads((drift_out / "drift.json").read_text())
    result["checks"] = [c for c in result["checks"] if c["section"] == "mixture"] + [
        {"section": "neardup", "statistic": "cross_overlap", "domain": "prose", "value": 0.31, "verdict": "DRIFT",
         "z": 7.5, "null_mean": 0.01, "null_sd": 0.04, "null_n": 20, "p_value": 0.047619, "reliable": True,
         "note": "", "n_old": 200, "n_new": 190, "detail": {"pairs": 12}}]
    out = tmp_path / "edited"
    out.mkdir()
    (out / "drift.json").write_text(json.dumps(result))
    page = report_command(out, console=quiet())
    assert page == out / "report.html"
    text = page.read_text()
    assert embedded(text)["missing"] == {"drift_metadata": "no metadata column both sides have",
                                         "drift_tokens": "no token checks"}
    assert 'data-panel="drift_metadata"' not in text and 'data-missing="drift_tokens"' in text
    checks = text[text.index('data-panel="drift_checks"'):]
    assert '<h3 data-section="neardup">neardup <span class="note">(1 DRIFT, 0 WARN, 0 OK)</span></h3>' in checks
    row = checks[checks.index('<tr data-check="neardup: cross_overlap/prose">'):]
    row = row[:row.index("</tr>")]
    assert '<td data-v="7.5">7.5</td>' in row and "0.01 ± 0.04" in row and '{&quot;pairs&quot;:12}' in row
    flagged = text[text.index('data-panel="drift_flagged"'):text.index('data-panel="drift_z"')]
    assert 'data-check="neardup: cross_overlap/prose"' in flagged


def test_an_unreadable_drift_json_is_one_line(tmp_path):
    (tmp_path / "drift.json").write_text('{"old": 1}')
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "drift.json: not a 'curricle drift' result" in res.output


@pytest.mark.slow
def test_the_drift_page_opens_offline_without_errors(chromium, drift_out, tmp_path):
    out = report_command(drift_out, tmp_path / "report.html", console=quiet())
    requests, errors, drawn, handles = open_page(chromium, out, tmp_path / "drift.png")
    try:
        assert requests == [out.as_uri()] and errors == []
        assert drawn == len(figures(out.read_text())) == 5
    finally:
        close(handles)
