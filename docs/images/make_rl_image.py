"""Remake the README's RL report screenshot from a finished ``curricle rl`` run, and record how.

    .venv/bin/python benchmarks/rl_curriculum.py --quick            # writes runs/bench-rl/quick/<method>/<run>
    .venv/bin/python docs/images/make_rl_image.py RUN [--chromium /usr/bin/chromium]

It writes ``RUN/report.html`` with ``curricle report``, opens it in Debian's chromium, headless
through playwright (no browser download), 1280 px wide, and writes
``docs/images/rl-report.png``: the page from its header to the end of its second figure (the
training progress and what was drawn). It then sets the image's entry in
``docs/images/manifest.json``: ``produced_by``, ``commit`` and ``input_sha256`` of
``benchmarks/rl_curriculum.py`` (which ``tests/test_docs.py`` checks against the current file).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_demo_images import CHROMIUM, FLAGS, IMAGES, MANIFEST, ROOT, WIDTH, sha256  # noqa: E402

BENCHMARK = "benchmarks/rl_curriculum.py"


def screenshot(report: Path, out: Path, chromium: str = CHROMIUM) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.goto(report.resolve().as_uri(), wait_until="load")
            page.wait_for_function("document.querySelectorAll('.plot .main-svg').length >= 2", timeout=30_000)
            page.add_style_tag(content="header { position: static !important; }")
            bottom = page.evaluate("document.querySelectorAll('.plot')[1].getBoundingClientRect().bottom"
                                   " + window.scrollY")
            page.screenshot(path=str(out), full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": bottom + 16})
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished curricle rl run directory")
    parser.add_argument("--chromium", default=CHROMIUM)
    a = parser.parse_args(argv)
    if not (a.run / "final_scores.json").is_file():
        sys.exit(f"{a.run}: not a finished curricle rl run (no final_scores.json)")
    report = a.run / "report.html"
    subprocess.run([sys.executable, "-m", "curricle.cli", "report", str(a.run), "--out", str(report)], check=True)
    screenshot(report, IMAGES / "rl-report.png", a.chromium)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    manifest = json.loads(MANIFEST.read_text())
    manifest["images"]["rl-report.png"] = {
        "produced_by": f"python benchmarks/rl_curriculum.py --quick; python docs/images/make_rl_image.py "
                       f"runs/bench-rl/quick/{a.run.parent.name}/{a.run.name}",
        "commit": commit,
        "input_sha256": {BENCHMARK: sha256(ROOT / BENCHMARK)}}
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {IMAGES / 'rl-report.png'} and its manifest entry")


if __name__ == "__main__":
    main()
