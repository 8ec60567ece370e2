"""Preference pairs: built from scripted grades (chosen best, rejected worst, no-margin pairs
dropped and counted), read from files (one-line errors), cut into margin bands, and the pair
curriculum's order and milestone with scripted scores."""

from __future__ import annotations

import json

import pytest

from curricle.config import parse_model
from curricle.dpo import pairs as pairs_module
from curricle.dpo.config import DPOConfig, PairFile, PairsFromSamples
from curricle.dpo.pairs import Pair, band_tasks, pairs_from_grades, read_pair_file, sample_pairs
from curricle.errors import CurricleError
from curricle.finetune.config import Milestone
from curricle.finetune.curriculum import Curriculum
from curricle.tasks.config import ScoringConfig, TaskConfig
from curricle.tasks.items import TaskItem
from curricle.tasks.load import Task
from tests.dpo.conftest import dpo_config, pair_records, write_pairs


def config(tmp_path, **curriculum) -> DPOConfig:
    cfg = dpo_config(tmp_path / "model", write_pairs(tmp_path / "pairs.jsonl"), **curriculum)
    return parse_model(cfg, DPOConfig, "dpo.yaml")


def test_chosen_is_the_best_rejected_the_worst_and_ties_give_no_pair():
    [pair], why = pairs_from_grades("t", "i1", "p", ["a", "b", "c", "d"], [0.0, 1.0, 0.5, 1.0])
    assert why is None and (pair.chosen, pair.rejected, pair.margin) == ("b", "a", 1.0)
    [pair], _ = pairs_from_grades("t", "i2", "p", ["a", "b", "c"], [None, 0.2, 0.7])
    assert (pair.chosen, pair.rejected, pair.margin, pair.source) == ("c", "b", pytest.approx(0.5), "t:i2")
    assert pairs_from_grades("t", "i3", "p", ["a", "b", "c"], [1.0, 1.0, 1.0]) == ([], "no_margin")
    assert pairs_from_grades("t", "i4", "p", ["a", "b"], [None, 1.0]) == ([], "ungraded")
    assert pairs_from_grades("t", "i5", "p", ["a", "b"], [0.7, 1.0], min_margin=0.5) == ([], "no_margin")


def test_ranked_pairs_set_the_best_against_each_distinct_worse_completion_worst_first():
    """Curri-DPO's ranked pairs: chosen the best (the first sampled on ties), one pair per distinct
    worse text (a repeated text once, at its first sample), the worst first, margins their
    differences; min_margin drops the near ones; a text equal to chosen is never a rejected."""
    texts = ["w", "best", "mid", "w", "near", "best", "low", "best2"]
    scores = [0.0, 1.0, 0.5, 0.0, 0.9, 1.0, 0.2, 1.0]
    got, why = pairs_from_grades("t", "i", "p", texts, scores, rejected="each")
    assert why is None
    assert [(q.chosen, q.rejected, q.margin) for q in got] == [
        ("best", "w", 1.0), ("best", "low", 0.8), ("best", "mid", 0.5), ("best", "near", pytest.approx(0.1))]
    assert {q.source for q in got} == {"t:i"}
    got, _ = pairs_from_grades("t", "i", "p", texts, scores, min_margin=0.5, rejected="each")
    assert [q.rejected for q in got] == ["w", "low", "mid"]
    assert pairs_from_grades("t", "i", "p", ["x", "x"], [1.0, 1.0], rejected="each") == ([], "no_margin")
    assert pairs_from_grades("t", "i", "p", ["x"], [1.0], rejected="each") == ([], "ungraded")
    # worst (the default) is the first of these: the same chosen, the worst rejected
    [worst], _ = pairs_from_grades("t", "i", "p", texts, scores)
    assert worst == got[0]


def test_pairs_from_samples_are_graded_by_the_tasks_grader_and_drops_counted(monkeypatch):
    from curricle.tasks.load import build_tasks

    tc = TaskConfig.model_validate({"name": "reverse", "source": {"kind": "builtin", "skill": "reverse", "n_train": 6,
                                                                   "n_heldout": 2, "n_test": 2}})
    task = build_tasks([tc])[0]
    items = sorted(task.train, key=lambda i: pairs_module.unit_hash("reverse", i.id))[:4]
    scripted = [[items[0].completion, " no"],       # a pair: right vs wrong
                [" no", " nope"],                    # both wrong: no margin
                [items[2].completion] * 2,           # both right: no margin
                [" x", items[3].completion]]         # a pair, chosen sampled second

    def fake_sample(model, tokenizer, prompts, k, *args):
        assert prompts == [i.prompt for i in items] and k == 2
        return scripted

    monkeypatch.setattr(pairs_module, "sample_apart", fake_sample)
    src = PairsFromSamples(tasks=["reverse"], samples=2, max_prompts=4)
    got, summary = sample_pairs(None, None, src, {"reverse": task}, {"reverse": tc}, seed=0)
    assert [(p.chosen, p.rejected, p.margin) for p in got] == [(items[0].completion, " no", 1.0),
                                                                (items[3].completion, " x", 1.0)]
    assert summary == {"reverse": {"prompts": 4, "samples": 8, "built": 2, "dropped": {"no_margin": 2},
                                   "ungraded_samples": {}}}


def test_ranked_pairs_from_samples_count_every_pair_built(monkeypatch):
    from curricle.tasks.load import build_tasks

    tc = TaskConfig.model_validate({"name": "reverse", "source": {"kind": "builtin", "skill": "reverse", "n_train": 6,
                                                                   "n_heldout": 2, "n_test": 2}})
    task = build_tasks([tc])[0]
    items = sorted(task.train, key=lambda i: pairs_module.unit_hash("reverse", i.id))[:2]
    right = [i.completion for i in items]
    scripted = [[right[0], " a", " b", " a"],   # two distinct wrong answers: two pairs
                [right[1]] * 4]                   # all right: no margin
    monkeypatch.setattr(pairs_module, "sample_apart", lambda *a, **k: scripted)
    src = PairsFromSamples(tasks=["reverse"], samples=4, max_prompts=2, rejected="each")
    got, summary = sample_pairs(None, None, src, {"reverse": task}, {"reverse": tc}, seed=0)
    assert [(p.chosen, p.rejected) for p in got] == [(right[0], " a"), (right[0], " b")]
    assert summary["reverse"]["built"] == 2 and summary["reverse"]["dropped"] == {"no_margin": 1}


def test_a_pairs_file_missing_a_field_is_a_one_line_error(tmp_path):
    records = pair_records()[:3]
    del records[1]["rejected"]
    path = write_pairs(tmp_path / "p.jsonl", records)
    with pytest.raises(CurricleError, match=r"^[^\n]*p\.jsonl:2: no 'rejected' field \(a pair needs prompt, chosen, "
                                            r"rejected\)$"):
        read_pair_file(PairFile(kind="jsonl", path=path))
    bad = write_pairs(tmp_path / "m.jsonl", [{**pair_records()[0], "margin": -1}])
    with pytest.raises(CurricleError, match=r"m\.jsonl:1: 'margin' must be a number >= 0, got -1"):
        read_pair_file(PairFile(kind="jsonl", path=bad))


def test_hf_disk_pairs(tmp_path):
    import datasets

    datasets.Dataset.from_list(pair_records()[:5]).save_to_disk(str(tmp_path / "ds"))
    got = read_pair_file(PairFile(kind="hf-disk", path=tmp_path / "ds"))
    assert [p.prompt for p in got] == [r["prompt"] for r in pair_records()[:5]] and got[0].margin == 0.1



def test_hf_disk_pairs_not_utf8_or_corrupt_are_one_line_errors(tmp_path):
    import datasets
    import pyarrow as pa

    raw = pa.array([b"good", b"good", b"bad \xff"], pa.binary())
    chosen = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())  # bytes as they are: Arrow checks none
    path = tmp_path / "ds"
    datasets.Dataset(pa.table({"prompt": ["p0", "p1", "p2"], "chosen": chosen,
                               "rejected": ["r0", "r1", "r2"]})).save_to_disk(str(path))
    with pytest.raises(CurricleError) as e:
        read_pair_file(PairFile(kind="hf-disk", path=path))
    assert str(e.value) == f"{path}:2: not UTF-8 text"
    (path / "state.json").write_text("{not json")
    with pytest.raises(CurricleError, match=rf"^pairs: {path}: a corrupt or truncated dataset \(Expecting"):
        read_pair_file(PairFile(kind="hf-disk", path=path))

def test_margin_bands_hold_the_clearest_pairs_first_and_drops_are_counted(tmp_path):
    cfg = config(tmp_path)
    records = pair_records()
    pairs = [Pair(r["prompt"], r["chosen"], r["rejected"], r["task"], r["margin"], f"f:{k}")
             for k, r in enumerate(records)]
    pairs.append(Pair("q", " same", " same", None, 0.5, "f:dup"))
    bands, summary = band_tasks(pairs, cfg, eval_tasks=[])
    assert [b.name for b in bands] == ["clear", "subtle"]
    assert summary["pairs"] == 49 and summary["kept"] == 48 and summary["dropped"] == {"identical": 1}
    clear = [i.meta["margin"] for i in bands[0].train + bands[0].heldout]
    subtle = [i.meta["margin"] for i in bands[1].train + bands[1].heldout]
    assert len(clear) == len(subtle) == 24 and min(clear) >= max(subtle)
    assert summary["bands"]["clear"]["train"] + summary["bands"]["clear"]["heldout"] == 24
    held = {i.prompt for b in bands for i in b.heldout}
    assert held and not held & {i.prompt for b in bands for i in b.train}
    # random order: the same band sizes, margins mixed; the pairs' prompts in eval items are dropped
    rnd = config(tmp_path, order="random")
    ev = Task("reverse", "reverse", ScoringConfig(), [], [TaskItem("h", records[0]["prompt"], " x", split="heldout")], [])
    bands, summary = band_tasks(pairs[:48], rnd, eval_tasks=[ev])
    assert summary["dropped"] == {"prompt_in_eval": 1} and summary["kept"] == 47
    assert [len(b.train) + len(b.heldout) for b in bands] == [23, 24]
    clear = [i.meta["margin"] for i in bands[0].train + bands[0].heldout]
    assert min(clear) < 0.5 < max(clear)


def test_order_margin_needs_every_margin(tmp_path):
    cfg = config(tmp_path)
    with pytest.raises(CurricleError, match=r"^f:3: no 'margin' field \(curriculum.order margin needs one"):
        band_tasks([Pair("p", "a", "b", None, 1.0, "f:1"), Pair("p2", "a", "b", None, None, "f:3")], cfg, [])


def test_the_pair_curriculum_draws_the_clear_band_first_and_advances_on_its_milestone(tmp_path):
    cfg = config(tmp_path, order="margin")
    cfg.curriculum.stages[0].advance_when = Milestone(task="clear", metric="pref_acc", at_least=0.75, patience=2)
    pairs = [Pair(r["prompt"], r["chosen"], r["rejected"], r["task"], r["margin"], f"f:{k}")
             for k, r in enumerate(pair_records())]
    bands, _ = band_tasks(pairs, cfg, [])
    c = Curriculum(cfg.curriculum, bands, seed=0, batch_size=4)
    c.discrete_metrics.update({"clear": "pref_acc", "subtle": "pref_acc"})
    mix = c.initial_mix()
    assert {c.task_of[r] for _ in range(3) for r in c.draw(mix)} == {"clear"}

    def scores(acc):
        return {"clear": {"pref_acc": acc, "pref_acc_se": 0.1}, "subtle": {"pref_acc": 0.5, "pref_acc_se": 0.1}}

    c.on_baseline(scores(0.4))
    records, new = c.on_evaluate(2, scores(0.8))
    assert records == [] and new is None  # 1 of the 2 evaluations in a row
    records, new = c.on_evaluate(4, scores(0.9))
    assert records[0] == {**records[0], "event": "stage", "from": "clear", "to": "subtle", "reason": "milestone",
                          "step": 4}
    assert new.weights == {"subtle": 1.0} and new.start == 5


def test_bad_dpo_configs_name_the_field(tmp_path):
    base = dpo_config(tmp_path / "m", tmp_path / "p.jsonl")
    cases = [
        ({"curriculum": {**base["curriculum"], "stages": [{"name": "s", "tasks": {"loud": 1}, "max_steps": 2}]}},
         "curriculum.stages.0.tasks: unknown band 'loud' (bands: clear, subtle)"),
        ({"curriculum": {**base["curriculum"], "stages": [{"name": "s", "tasks": {"clear": 1}, "max_steps": 2,
                                                           "advance_when": {"task": "clear", "at_least": 1}}]}},
         "advance_when.metric: clear reports pref_acc, margin, not 'exact_match'"),
        ({"pairs": [{"kind": "from_samples", "tasks": ["nope"]}]}, "pairs.0.tasks: unknown task 'nope'"),
        ({"curriculum": {"order": "none"}}, "train.max_steps: needed when curriculum.stages is left out"),
        ({"pairs": [{"kind": "from_samples", "tasks": ["reverse"]},
                    {"kind": "from_samples", "tasks": ["reverse"], "score": "judge",
                     "judge": {"model": {"path": "j"}, "principle": "Be right."}}]},
         "curriculum.order: margin cannot order pairs.0 (grader scores, 0 to 1) together with pairs.1 (judge "
         "log-odds, in nats)"),
        ({"train": {"reference": "stage", "loss_type": "sft"}}, "reference: loss_type sft reads no reference model"),
    ]
    for change, message in cases:
        with pytest.raises(CurricleError) as err:
            parse_model({**base, **change}, DPOConfig, "dpo.yaml")
        assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    mixed = [{"kind": "from_samples", "tasks": ["reverse"]},
             {"kind": "from_samples", "tasks": ["reverse"], "score": "judge",
              "judge": {"model": {"path": "j"}, "principle": "Be right."}}]
    parse_model({**base, "pairs": mixed, "curriculum": {**base["curriculum"], "order": "random"}}, DPOConfig, "dpo.yaml")
    ok = parse_model({**base, "curriculum": {"order": "none"}, "train": {"max_steps": 6}}, DPOConfig, "dpo.yaml")
    assert [(s.name, s.tasks, s.max_steps) for s in ok.curriculum.stages] == [("pairs", {"pairs": 1}, 6)]
    json.dumps(ok.model_dump(mode="json"))


def test_nll_weight_beside_the_nll_alone_is_refused():
    from curricle.dpo.config import DPOTrainConfig

    assert DPOTrainConfig(loss_type="sft").nll_weight == 0
    with pytest.raises(ValueError, match="nll_weight: loss_type sft is the NLL alone"):
        DPOTrainConfig(loss_type="sft", nll_weight=1)


def stage_ends(cfg: DPOConfig, bands: list) -> list[tuple[str, int]]:
    """Where the curriculum ends each stage, evaluating every eval_every steps and at the last."""
    c = Curriculum(cfg.curriculum, bands, seed=0, batch_size=4)
    c.discrete_metrics.update({b.name: "pref_acc" for b in bands})
    every, steps, ends = cfg.curriculum.eval_every, cfg.train.max_steps, []
    scores = {b.name: {"pref_acc": 0.5, "pref_acc_se": 0.1, "margin": 0.0, "margin_se": 0.1} for b in bands}
    for step in range(1, steps + 1):
        if step % every == 0 or step == steps:
            records, _ = c.on_evaluate(step, scores)
            ends += [(r["from"], r["step"]) for r in records if r["event"] == "stage"]
    return ends


def test_default_stages_end_at_their_planned_evaluations(tmp_path):
    """One stage a band, each ending at the evaluation nearest its equal share of max_steps (the
    README's Curri-DPO config: 160 steps, three bands, evaluations every 25 -> 50, 100, 160),
    not at the first evaluation after an equal share (75, 150); a later stage's max_steps is its
    span (its steps count from the evaluation that ended the previous stage)."""
    base = dpo_config(tmp_path / "m", tmp_path / "p.jsonl")
    three = ["clear", "middle", "subtle"]
    pairs = [Pair(f"prompt {k}", "a", "b", None, float(k % 17), f"f:{k}") for k in range(300)]
    for every, stages, ends in [(25, [50, 50, 60], [50, 100]), (53, [53, 53, 54], [53, 106]),
                                (40, [40, 80, 40], [40, 120]), (1, [53, 54, 53], [53, 107])]:
        cfg = parse_model({**base, "curriculum": {"order": "margin", "bands": three, "eval_every": every},
                           "train": {"max_steps": 160}}, DPOConfig, "dpo.yaml")
        assert [(s.name, s.tasks, s.max_steps) for s in cfg.curriculum.stages] == [
            (b, {b: 1}, n) for b, n in zip(three, stages)]
        bands, _ = band_tasks(pairs, cfg, [])
        assert stage_ends(cfg, bands) == list(zip(three, ends))
    # A band needs an evaluation of its own before its stage can end.
    for steps, every, need in [(2, 25, 75), (74, 25, 75), (5, 1, 6)]:
        with pytest.raises(CurricleError) as err:
            parse_model({**base, "curriculum": {"bands": three, "eval_every": every}, "train": {"max_steps": steps}},
                        DPOConfig, "dpo.yaml")
        assert str(err.value) == (
            f"dpo.yaml: train.max_steps: {steps} steps cannot end 3 band stages (curriculum.bands) each at an "
            f"evaluation every {every} steps (curriculum.eval_every): give at least {need}, a smaller eval_every, "
            f"or curriculum.stages")
    one = parse_model({**base, "curriculum": {"order": "none"}, "train": {"max_steps": 3}}, DPOConfig, "dpo.yaml")
    assert [(s.name, s.max_steps) for s in one.curriculum.stages] == [("pairs", 3)]  # one stage: no end to plan


def test_a_written_dpo_config_reads_back(tmp_path):
    """config.yaml (the config's dump) loads again as the same config: with order none (its one
    band, not the default two) and with the default stages planned."""
    import yaml

    from curricle.dpo.config import load_dpo_config

    base = dpo_config(tmp_path / "m", tmp_path / "p.jsonl")
    for curriculum in ({"order": "none"}, {"order": "margin", "bands": ["clear", "middle", "subtle"]},
                       base["curriculum"]):
        cfg = parse_model({**base, "curriculum": curriculum, "train": {"max_steps": 160}}, DPOConfig, "dpo.yaml")
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
        assert load_dpo_config(path) == cfg
    assert cfg.curriculum.band_names == ["clear", "subtle"]
    none = parse_model({**base, "curriculum": {"order": "none"}, "train": {"max_steps": 8}}, DPOConfig, "dpo.yaml")
    assert none.curriculum.bands == none.curriculum.band_names == ["pairs"]


def test_a_band_without_held_out_pairs_is_refused_before_training(tmp_path):
    """Held-out pairs are drawn by a hash of the prompt: a band whose prompts all hash to train
    has nothing to be scored on (it used to fail with a KeyError at the first evaluation)."""
    cfg = config(tmp_path).model_copy(update={"heldout_pairs": 0.1, "seed": 1})
    pairs = [Pair(f"prompt {k}", "a", "b", None, float(20 - k), f"f:{k}") for k in range(20)]
    with pytest.raises(CurricleError) as err:
        band_tasks(pairs, cfg, [])
    assert str(err.value) == ("curriculum.bands: band clear has no held-out pair (20 pairs in 2 bands, heldout_pairs "
                              "0.1); use fewer bands, more pairs or a larger heldout_pairs")
    bands, summary = band_tasks(pairs, cfg.model_copy(update={"seed": 0}), [])  # seed 0 holds out 2 and 1
    assert [(c["train"], c["heldout"]) for c in summary["bands"].values()] == [(8, 2), (9, 1)]


def test_a_pairs_file_not_utf8_is_a_one_line_error_naming_the_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    good = json.dumps(pair_records()[0]).encode()
    path.write_bytes(good + b"\n\n" + '{"prompt": "café", "chosen": "a", "rejected": "b"}\n'.encode("latin-1"))
    with pytest.raises(CurricleError) as err:
        read_pair_file(PairFile(kind="jsonl", path=path))
    assert str(err.value) == f"{path}:3: not UTF-8 text"
    path.write_bytes(b"\xef\xbb\xbf" + good + b"\n" + b"{nope\n")  # a byte-order mark is dropped; bad JSON named
    with pytest.raises(CurricleError) as err:
        read_pair_file(PairFile(kind="jsonl", path=path))
    assert str(err.value).startswith(f"{path}:2: not JSON (")


def test_label_smoothing_is_robust_dpos_flip_rate_passed_to_trl(tmp_path):
    from trl import DPOConfig as TRLDPOConfig

    from curricle.dpo.command import loss_args
    from curricle.dpo.config import DPOTrainConfig

    robust = DPOTrainConfig(loss_type="robust", label_smoothing=0.1)
    assert loss_args(robust) == {"loss_type": ["robust"], "label_smoothing": 0.1}
    assert loss_args(DPOTrainConfig(loss_type="robust", label_smoothing=0.2, nll_weight=1.0)) == {
        "loss_type": ["robust", "sft"], "loss_weights": [1.0, 1.0], "label_smoothing": 0.2}
    assert loss_args(DPOTrainConfig()) == {"loss_type": ["sigmoid"], "label_smoothing": 0.0}
    trl = TRLDPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], **loss_args(robust))
    assert (trl.loss_type, trl.label_smoothing) == (["robust"], 0.1)
    base = dpo_config(tmp_path / "m", tmp_path / "p.jsonl")
    cases = [({"loss_type": "robust"}, "train: label_smoothing: loss_type robust needs the share of mislabelled "
                                      "pairs, in (0, 0.5) (e.g. 0.1; at 0 it is sigmoid DPO)"),
             ({"label_smoothing": 0.1}, "train: label_smoothing: only loss_type robust reads it (TRL's sigmoid loss "
                                        "has none)"),
             ({"loss_type": "robust", "label_smoothing": 0.5}, "train.label_smoothing: Input should be less than 0.5")]
    for change, message in cases:
        with pytest.raises(CurricleError) as err:
            parse_model({**base, "train": {**base["train"], **change}}, DPOConfig, "dpo.yaml")
        assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
