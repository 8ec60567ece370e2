"""The report opened in headless Chromium: it draws every plot, logs no console error, and
requests nothing but the file itself."""

import pytest

from curricle.report import write_compare, write_report
from tests.report.conftest import figures, write_fake_run

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def open_page(chromium, path, screenshot):
    """Open ``path``; return (requested URLs, console errors, number of drawn plots, page).

    Console messages of type error and uncaught page errors both count as errors.
    """
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("document.querySelectorAll('.plot .main-svg').length > 0", timeout=20_000)
    page.screenshot(path=str(screenshot), full_page=True)
    drawn = page.evaluate("document.querySelectorAll('.plot.js-plotly-plot').length")
    return requests, errors, drawn, (pw, browser, page)


def close(handles):
    pw, browser, _ = handles
    browser.close()
    pw.stop()


@pytest.mark.slow
def test_report_opens_offline_without_errors(chromium, fake_run, tmp_path):
    out = write_report(fake_run)
    requests, errors, drawn, handles = open_page(chromium, out, tmp_path / "report.png")
    try:
        assert requests == [out.as_uri()]
        assert errors == []
        assert drawn == len(figures(out.read_text())) == 6  # with the checkpoints' Pareto front
        assert (tmp_path / "report.png").stat().st_size > 50_000
        # A click on the audit log's row marks its step on the weights plot.
        page = handles[2]
        page.click("#audit-0-0")
        assert page.evaluate("document.querySelector('#audit-0-0').classList.contains('picked')")
        mix_id = page.evaluate("document.querySelector('#audit-0-0').dataset.fig")
        shapes = page.evaluate(f"document.getElementById('{mix_id}').layout.shapes.filter(s => s.name === 'picked')"
                               ".map(s => s.x0)")
        assert shapes == [1500]
        # Headers sort the checkpoint table (descending on the second click).
        page.click("#checkpoints th:first-child")
        page.click("#checkpoints th:first-child")
        first = page.evaluate("document.querySelector('#checkpoints tbody tr').dataset.step")
        assert first == "20"
    finally:
        close(handles)


@pytest.mark.slow
def test_comparison_opens_offline_without_errors(chromium, tmp_path):
    a = write_fake_run(tmp_path / "a")
    b = write_fake_run(tmp_path / "b", steps=12, total=20, probes=False)
    out = write_compare([a, b], tmp_path / "cmp.html")
    requests, errors, drawn, handles = open_page(chromium, out, tmp_path / "cmp.png")
    try:
        assert requests == [out.as_uri()] and errors == []
        assert drawn == len(figures(out.read_text()))
    finally:
        close(handles)


def test_the_hard_examples_panel_draws_without_errors(chromium, tmp_path):
    from tests.report.test_hard_examples_report import add_everything

    run = write_fake_run(tmp_path)
    add_everything(run, tmp_path)
    out = write_report(run)
    requests, errors, drawn, handles = open_page(chromium, out, tmp_path / "hard.png")
    try:
        assert requests == [out.as_uri()] and errors == []
        assert drawn == len(figures(out.read_text())) == 8  # the page's 5, the Pareto front, the signals, the groups
        _, _, page = handles
        assert page.evaluate("document.querySelectorAll('#hard_examples .plot.js-plotly-plot').length") == 2
    finally:
        close(handles)
