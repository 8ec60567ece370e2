"""Regenerate the README's two demo screenshots from a finished demo, and record how.

    make demo                                     # writes runs/demo (or: curricle demo --out DIR)
    .venv/bin/python docs/images/make_demo_images.py [--out runs/demo] [--chromium /usr/bin/chromium]

It first checks that ``OUT/run/config.yaml`` is the config ``curricle demo`` builds from the
current ``src/curricle/configs/demo.yaml`` (so the images show *this* demo, not an older one)
and that ``OUT/run/metrics.jsonl`` reaches its last step. Then it opens ``OUT/report.html`` in Debian's
chromium, headless through playwright (as ``tests/report/test_browser.py`` does; no browser
download), 1280 px wide, and writes

- ``docs/images/demo-report.png``: the top of the page, from its header to the end of the
  mixture-weights plot (the losses panel and the mixture panel's first plot);
- ``docs/images/demo-skill-map.png``: the skill map's heatmap (the first plot of the
  ``<section id="skills">`` panel, titled "Skill map");

and updates their entries in ``docs/images/manifest.json``: ``produced_by`` (this command),
``commit`` (``git rev-parse HEAD``) and ``input_sha256`` (of ``demo.yaml``), which
``tests/test_docs.py`` checks against the current file. Commit the images and the manifest
together.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"
MANIFEST = IMAGES / "manifest.json"
DEMO_CONFIG = "src/curricle/configs/demo.yaml"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
WIDTH = 1280


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def take_screenshots(report: Path, top: Path, skill_map: Path, chromium: str = CHROMIUM) -> None:
    """Write ``top`` (the page from its header to the end of the mixture panel's first plot)
    and ``skill_map`` (the first plot of the skill map panel) of the report page ``report``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.goto(report.resolve().as_uri(), wait_until="load")
            page.wait_for_function("['#losses', '#mixture', '#skills'].every("
                                   "s => document.querySelector(s + ' .plot .main-svg'))", timeout=30_000)
            # The header is sticky: it would lie over an element scrolled to the top of the window.
            page.add_style_tag(content="header { position: static !important; }")
            bottom = page.evaluate("document.querySelector('#mixture .plot').getBoundingClientRect().bottom"
                                   " + window.scrollY")
            page.screenshot(path=str(top), full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": bottom + 16})
            page.locator("#skills .plot").first.screenshot(path=str(skill_map))
        finally:
            browser.close()


def check_demo(out: Path) -> None:
    """Exit with a message unless ``OUT`` holds a finished demo, trained on the current demo
    config, with its report."""
    import yaml

    from curricle.demo.command import demo_config

    run = out / "run"
    for need in (run / "config.yaml", run / "metrics.jsonl", out / "report.html"):
        if not need.is_file():
            sys.exit(f"{need}: not found; run `make demo` (or `curricle demo --out {out}`) first")
    saved = yaml.safe_load((run / "config.yaml").read_text())
    config = demo_config(Path(saved["data_dir"]).parent)  # the demo's paths as the run wrote them
    if saved != yaml.safe_load(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)):
        sys.exit(f"{run / 'config.yaml'} is not the config {DEMO_CONFIG} gives now (an older demo): "
                 f"rerun the demo into a fresh directory")
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    if last["step"] < config.train.steps:
        sys.exit(f"{run}: not finished (step {last['step']} of {config.train.steps}); rerun `make demo` to finish it")


def record(names: list[str], command: str) -> None:
    """Set the manifest entries of ``names``: made by ``command`` at HEAD from the demo config."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    manifest = json.loads(MANIFEST.read_text())
    for name in names:
        manifest["images"][name] = {"produced_by": command, "commit": commit,
                                    "input_sha256": {DEMO_CONFIG: sha256(ROOT / DEMO_CONFIG)}}
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="the finished demo's directory")
    parser.add_argument("--chromium", default=CHROMIUM, help="the chromium executable")
    args = parser.parse_args(argv)
    check_demo(args.out)
    top, skill_map = IMAGES / "demo-report.png", IMAGES / "demo-skill-map.png"
    take_screenshots(args.out / "report.html", top, skill_map, args.chromium)
    record([top.name, skill_map.name], f"make demo; python docs/images/make_demo_images.py --out {args.out}")
    print(f"wrote {top.relative_to(ROOT)}, {skill_map.relative_to(ROOT)} and their manifest entries")


if __name__ == "__main__":
    main()
