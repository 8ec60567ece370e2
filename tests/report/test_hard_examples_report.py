"""The hard-examples panel on literal files: each part (difficulty signals, mined regions,
group shares and losses, augmentation, the pruning funnel) shown exactly when the run has it."""

import json
import re

from curricle.report import collect_run, write_compare, write_report
from tests.report.conftest import embedded, figures, write_fake_run


def parts(html_text: str) -> list[str]:
    return re.findall(r'<div data-part="([^"]+)">', html_text)


def add_everything(run, root):
    """Priorities in the audit log, group metrics, an augmentation log and a pruned store."""
    with open(run / "mixture_log.jsonl", "a") as f:
        for step, eff, capped in ((5, 30.0, 0), (10, 12.5, 2)):
            f.write(json.dumps({"controller": "hard-examples", "step": step, "effective_from_step": step + 1,
                                "priorities": {"code": {"top_docs": [3, 1], "top_probs": [0.2, 0.1],
                                                        "effective_docs": eff, "capped": capped}},
                                "reason": "document priorities from their most recent losses"}) + "\n")
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    for m in lines:
        m["group/share/code/en"] = (90 - m["step"]) / 100
        m["group/share/code/fr"] = (10 + m["step"]) / 100
        if "eval/loss" in m:
            m["eval/group_loss/code/en"] = 3.0
            m["eval/group_loss/code/fr"] = 4.0 - 0.05 * m["step"]
            m["eval/worst_group_loss"] = max(3.0, 4.0 - 0.05 * m["step"])
            m["eval/worst_group"] = "code/fr"
    (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    (run / "augment_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"step": 10, "domain": "code", "augmenter": "span-deletion", "n": 8, "target": "source=forum",
         "params": {"rate": 0.1}, "share": 0.05},
        {"step": 20, "domain": "code", "augmenter": "span-deletion", "n": 4, "target": "source=forum",
         "params": {"rate": 0.1}, "share": 0.07},
        {"step": 20, "domain": "prose", "augmenter": "char-noise", "n": 3, "target": "hardest-regions",
         "params": {"rate": 0.02}, "share": 0.01}]))
    (root / "data").mkdir()
    (root / "data" / "lineage.json").write_text(json.dumps({
        "parent": "runs/data", "by": "el2n", "keep": 0.5, "order": "keep-hardest", "seed": 0,
        "domains": {"code": {"in": 10, "kept": 5, "removed": {"easy": 4, "near-duplicate": 1}},
                    "prose": {"in": 4, "kept": 2, "removed": {"easy": 2}}}}))


def test_every_part_with_its_data(tmp_path):
    run_dir = write_fake_run(tmp_path)
    add_everything(run_dir, tmp_path)
    text = write_report(run_dir).read_text()
    assert parts(text) == ["signals", "regions", "groups", "augmentation", "pruning"]
    assert '<ul class="missing note"><li data-absent' not in text  # nothing absent
    h = embedded(text)["hard_examples"]
    assert h["absent"] == {}

    assert h["signals"] == {"step": [5, 10], "keys": ["capped", "effective_docs"],
                            "domains": {"code": {"capped": [0, 2], "effective_docs": [30.0, 12.5]}}}
    sig = next(v for k, v in figures(text).items() if k.startswith("fig-hard_signals"))
    assert [(t["name"], t["x"], t["y"]) for t in sig["data"]] == [("code", [5, 10], [0, 2]),
                                                                  ("code", [5, 10], [30.0, 12.5])]

    assert h["regions"]["step"] == 20 and h["regions"]["domains"]["code"]["hard_split"] == {
        "learning": 1, "stuck": 3, "rising": 0, "unknown": 0, "hard": 4}
    assert [r["value"] for r in h["regions"]["domains"]["code"]["regions"]] == ["forum", "wiki"]
    assert re.search(r'<tr data-region="source=forum"><td data-v="source" class="text">source</td>'
                     r'<td data-v="forum" class="text">forum</td><td data-v="10">10</td><td data-v="0.9">0.9</td>'
                     r'<td data-v="0.800–1.000" class="text">0.800–1.000</td><td data-v="5.0">5</td>', text)
    assert "4 (1 learning, 3 stuck, 0 rising, 0 unknown; stuck ones are noise candidates)" in text

    g = h["groups"]
    assert g["names"] == ["code/en", "code/fr"] and g["share"]["step"] == list(range(1, 21))
    assert g["share"]["by_group"]["code/fr"][:2] == [0.11, 0.12]
    assert g["loss"]["step"] == [10, 20] and g["loss"]["by_group"]["code/fr"] == [3.5, 3.0]
    assert g["loss"]["worst"] == [3.5, 3.0] and g["loss"]["worst_group"] == ["code/fr", "code/fr"]
    grp = next(v for k, v in figures(text).items() if k.startswith("fig-hard_groups"))
    assert [t["name"] for t in grp["data"]] == ["code/en", "code/en", "code/fr", "code/fr", "worst group"]

    assert h["augmentation"]["n_rounds"] == 3 and h["augmentation"]["totals"] == [
        {"domain": "code", "augmenter": "span-deletion", "rounds": 2, "documents": 12, "last_step": 20, "share": 0.07},
        {"domain": "prose", "augmenter": "char-noise", "rounds": 1, "documents": 3, "last_step": 20, "share": 0.01}]

    p = h["pruning"]
    assert (p["by"], p["keep"], p["order"], p["store"]) == ("el2n", 0.5, "keep-hardest", str(tmp_path / "data"))
    # Per domain: in, kept, kept share, then removed by each reason (0 where none).
    assert ('<tr data-domain="code"><td data-v="code" class="text">code</td><td data-v="10">10</td>'
            '<td data-v="5">5</td><td data-v="0.5">0.5</td><td data-v="4">4</td><td data-v="1">1</td></tr>') in text
    assert '<td data-v="2">2</td><td data-v="0">0</td></tr>' in text


def test_each_part_only_when_present(tmp_path):
    run_dir = write_fake_run(tmp_path, hard_examples=False)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "lineage.json").write_text(json.dumps({
        "parent": "p", "by": "random", "keep": 0.7, "order": "random", "seed": 1,
        "domains": {"code": {"in": 10, "kept": 7, "removed": {"random": 3}}}}))
    text = write_report(run_dir).read_text()
    assert parts(text) == ["pruning"]
    absent = re.findall(r'<li data-absent="([^"]+)">', text)
    assert absent == ["signals", "regions", "groups", "augmentation"]
    run = collect_run(run_dir)
    assert "hard_examples" not in run["missing"] and list(run["hard_examples"]) == ["pruning", "absent"]


def test_compare_shows_why_a_run_has_no_panel(tmp_path):
    a = write_fake_run(tmp_path / "a")
    b = write_fake_run(tmp_path / "b", hard_examples=False)
    text = write_compare([a, b], tmp_path / "c.html").read_text()
    section = text[text.index('<section id="hard_examples"'):]
    section = section[:section.index("</section>")]
    assert section.count('data-part="regions"') == 1 and "no hard-examples data" in section
