"""The selection rule: which checkpoint a stated rule picks on literal tables, its refusals,
the no-feasible case, the Pareto front, and ``select:`` in a pipeline."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from curricle.errors import CurricleError
from curricle.selection.config import SelectRule, load_select_rule
from curricle.selection.rule import choose, pareto_front
from curricle.selection.tables import pipeline_rows, pipeline_rule

#: A pipeline's checkpoint table: sft2 has the best mean but its probes fell by 0.08; grpo and
#: dpo tie on the mean, dpo with fewer tokens but a flag.
TABLE = [
    {"stage": "start", "checkpoint": "s", "tokens": 0, "test": {"add": 0.0, "rev": 0.0}, "mean": 0.0, "worst": 0.0,
     "length": 12.0, "probes": {"probe:copy": 0.20}, "probe_mean": 0.20, "probe_change": 0.0},
    {"stage": "sft", "checkpoint": "a", "tokens": 500, "test": {"add": 0.9, "rev": 0.5}, "mean": 0.7, "worst": 0.5,
     "length": 4.0, "probes": {"probe:copy": 0.25}, "probe_mean": 0.25, "probe_change": 0.05},
    {"stage": "grpo", "checkpoint": "b", "tokens": 700, "test": {"add": 0.9, "rev": 0.7}, "mean": 0.8, "worst": 0.7,
     "length": 4.5, "probes": {"probe:copy": 0.22}, "probe_mean": 0.22, "probe_change": 0.02},
    {"stage": "dpo", "checkpoint": "c", "tokens": 650, "test": {"add": 0.95, "rev": 0.65}, "mean": 0.8, "worst": 0.65,
     "length": 3.0, "probes": {"probe:copy": 0.21}, "probe_mean": 0.21, "probe_change": 0.01},
    {"stage": "sft2", "checkpoint": "d", "tokens": 900, "test": {"add": 1.0, "rev": 0.8}, "mean": 0.9, "worst": 0.8,
     "length": 4.0, "probes": {"probe:copy": 0.12}, "probe_mean": 0.12, "probe_change": -0.08},
]
FLAGS = {"dpo": 1}


def test_the_table_has_named_columns():
    rows, known = pipeline_rows(TABLE, FLAGS)
    assert known == ["add", "rev", "probe:copy", "mean", "worst", "length", "tokens", "probe_mean", "probe_change",
                     "probe_drop", "flags", "row"]
    assert rows[4]["probe_drop"] == 0.08 and rows[3]["flags"] == 1 and rows[2]["rev"] == 0.7 and rows[1]["row"] == 1


def test_constraints_exclude_the_best_mean_and_the_tie_goes_to_fewer_tokens():
    rows, known = pipeline_rows(TABLE, FLAGS)
    # best-mean: sft2 (0.9) fell 0.08 on the probes; grpo and dpo tie at 0.8, dpo spent fewer tokens.
    best = choose(rows, pipeline_rule("best-mean", 0.05), known)
    assert best["chosen"] == 3 and best["feasible"] and best["candidates"] == [0, 1, 2, 3]
    assert best["broken"] == {4: ["probe_drop"]}
    assert best["rule"] == ("highest mean subject to probe_drop <= 0.05; ties: smallest tokens; "
                            "ties after that: the earlier row")
    # With no flags allowed, dpo is out too: grpo.
    rule = SelectRule.model_validate({"maximize": "mean", "subject_to": {"probe_drop": "<= 0.05", "flags": None},
                                      "tie": "tokens"})
    assert choose(rows, rule, known)["chosen"] == 2
    # The shortest completions among those with every task at 0.6 or better: dpo.
    rule = SelectRule.model_validate({"minimize": "length", "subject_to": {"worst": ">= 0.6"}})
    assert choose(rows, rule, known)["chosen"] == 3
    # Ties without a tie column: the earlier row.
    assert choose(rows, SelectRule(maximize="mean", subject_to={"mean": "< 0.85"}), known)["chosen"] == 2
    assert choose(rows, pipeline_rule("last", 0.05), known)["chosen"] == 4


def test_an_unknown_column_is_refused_in_one_line_naming_it_and_the_known_ones():
    rows, known = pipeline_rows(TABLE, FLAGS)
    with pytest.raises(CurricleError) as err:
        choose(rows, SelectRule(maximize="accuracy"), known)
    assert str(err.value) == ("select: unknown column 'accuracy' (known: add, rev, probe:copy, mean, worst, length, "
                              "tokens, probe_mean, probe_change, probe_drop, flags, row)")
    with pytest.raises(CurricleError, match="unknown column 'prob_drop'"):
        choose(rows, SelectRule(maximize="mean", subject_to={"prob_drop": "<= 0.1"}), known)


def test_when_no_checkpoint_is_feasible_the_fewest_broken_are_ranked_and_it_says_so():
    rows, known = pipeline_rows(TABLE, FLAGS)
    rule = SelectRule.model_validate({"maximize": "mean", "subject_to": {"worst": ">= 0.9", "length": "<= 3.5"}})
    out = choose(rows, rule, known)
    # Nobody meets both; only dpo (length 3.0) meets one of them.
    assert out["feasible"] is False and out["candidates"] == [] and out["chosen"] == 3
    assert out["reason"] == "no checkpoint meets every constraint: chose among those breaking the fewest (1) by mean"
    assert out["broken"][3] == ["worst"] and out["broken"][4] == ["worst", "length"]
    assert choose([{"mean": None}], SelectRule(maximize="mean"))["chosen"] is None


def test_a_constraint_on_a_missing_value_is_not_judged():
    rows = [{"mean": 0.5, "probe_drop": None}, {"mean": 0.4, "probe_drop": 0.0}]
    assert choose(rows, SelectRule(maximize="mean", subject_to={"probe_drop": "<= 0.05"}))["chosen"] == 0


def test_the_pareto_front():
    rows, _ = pipeline_rows(TABLE, FLAGS)
    # mean against tokens: start (0 tokens), sft (0.7 at 500) is beaten by nobody cheaper... dpo (0.8 at 650)
    # beats grpo (0.8 at 700); sft2 (0.9) is the best score.
    assert pareto_front(rows, "mean", "tokens") == [0, 1, 3, 4]
    assert pareto_front(rows, "mean", "length") == [3, 4]  # dpo is the shortest; sft2 the best at 4.0
    assert pareto_front([{"loss": 2.0, "t": 1}, {"loss": 1.0, "t": 2}, {"loss": 1.5, "t": 3}], "loss", "t",
                        maximize=False) == [0, 1]


def test_the_rule_refuses_bad_input_at_load(tmp_path):
    with pytest.raises(ValidationError, match="exactly one of maximize"):
        SelectRule(maximize="mean", minimize="length")
    with pytest.raises(ValidationError, match="worst: '=> 0.5' is not a constraint"):
        SelectRule.model_validate({"maximize": "mean", "subject_to": {"worst": "=> 0.5"}})
    f = tmp_path / "rule.yaml"
    f.write_text("maximize: mean\nsubject_to: {worst: '>= 0.5', flags: none}\ntie: tokens\n")
    assert load_select_rule(f) == SelectRule(maximize="mean", subject_to={"worst": ">= 0.5", "flags": "none"},
                                             tie="tokens")
    f.write_text("last\n")
    assert load_select_rule(f) == "last"
    f.write_text("maximise: mean\n")
    with pytest.raises(CurricleError, match=str(f)):
        load_select_rule(f)


def test_a_bad_rule_is_blamed_on_its_own_field_not_on_the_shorthands(tmp_path):
    from curricle.config import parse_model
    from curricle.pipeline.config import PipelineConfig

    why = "subject_to: worst: '0.5' is not a constraint (write '>= 0.5', '<= 0.05', '> 0', '< 10', '== 0' or 'none')"
    f = tmp_path / "rule.yaml"
    f.write_text("maximize: mean\nsubject_to: {worst: 0.5}\n")
    with pytest.raises(CurricleError) as err:
        load_select_rule(f)
    assert str(err.value) == f"{f}: {why}"
    f.write_text("rule: {maximize: mean, subject_to: {worst: 0.5}}\n")
    with pytest.raises(CurricleError) as err:
        load_select_rule(f)
    assert str(err.value) == f"{f}: rule: {why}"
    f.write_text("rule: 3\n")
    with pytest.raises(CurricleError) as err:
        load_select_rule(f)
    assert str(err.value) == f"{f}: rule: expected best-mean, last or a rule (a mapping with maximize: or minimize:)"
    f.write_text("rule: lats\n")
    with pytest.raises(CurricleError) as err:
        load_select_rule(f)
    assert str(err.value) == f"{f}: rule.shorthand: Input should be 'best-mean' or 'last'"
    base = {"model": {"path": "m"}, "stages": [{"name": "sft", "kind": "finetune", "config": "sft.yaml"}],
            "evaluate": {"tasks": [{"name": "rev", "source": {"kind": "jsonl", "path": "r.jsonl"}}]}}
    with pytest.raises(CurricleError) as err:
        parse_model({**base, "select": {"maximize": "mean", "subject_to": {"worst": 0.5}}}, PipelineConfig, "line.yaml")
    assert str(err.value) == f"line.yaml: select.{why}"
    with pytest.raises(CurricleError) as err:
        parse_model({**base, "select": {"maximize": "mean", "tie_break": "tokens"}}, PipelineConfig, "line.yaml")
    assert str(err.value) == "line.yaml: select.tie_break: unknown key"


def test_a_value_that_is_not_finite_counts_as_no_value():
    nan = float("nan")
    rule = SelectRule(maximize="mean", subject_to={"worst": ">= 0.5"}, tie="tokens")
    rows = [{"mean": nan, "worst": 0.6, "tokens": 100},  # no objective: not a candidate
            {"mean": 0.5, "worst": 0.6, "tokens": nan},  # no tie value: after one that has it
            {"mean": 0.5, "worst": nan, "tokens": 200},  # no worst: not judged
            {"mean": 0.4, "worst": 0.3, "tokens": 50}]
    out = choose(rows, rule)
    assert (out["chosen"], out["candidates"], out["broken"], out["feasible"]) == (2, [1, 2], {3: ["worst"]}, True)
    assert pareto_front(rows, "mean", "tokens") == [3, 2]
    out = choose(rows[::-1], rule)
    assert (out["chosen"], out["candidates"], out["broken"], out["feasible"]) == (1, [1, 2], {0: ["worst"]}, True)
    assert pareto_front(rows[::-1], "mean", "tokens") == [0, 1]
    inf = {"mean": float("inf"), "tokens": 1}
    assert choose([inf, rows[2]], rule)["chosen"] == 1 and choose([rows[2], inf], rule)["chosen"] == 0


def test_a_pipeline_config_refuses_a_rule_naming_an_unknown_column():
    from curricle.config import parse_model
    from curricle.pipeline.config import PipelineConfig

    base = {"model": {"path": "m"}, "stages": [{"name": "sft", "kind": "finetune", "config": "sft.yaml"}],
            "evaluate": {"tasks": [{"name": "rev", "source": {"kind": "jsonl", "path": "r.jsonl"}}]}}
    ok = parse_model({**base, "select": {"maximize": "rev", "subject_to": {"probe:copy": ">= 0.1"}}}, PipelineConfig,
                     "line.yaml")
    assert ok.select.objective == "rev"
    with pytest.raises(CurricleError) as err:
        parse_model({**base, "select": {"maximize": "score"}}, PipelineConfig, "line.yaml")
    assert "select: unknown column 'score' (known: rev, mean, worst, length, tokens" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_stage_hands_on_the_checkpoint_its_rule_chooses(tmp_path):
    from curricle.pipeline.command import choose_checkpoint

    run = tmp_path / "s"
    (run / "final").mkdir(parents=True)
    rows = [{"step": s, "eval/mean": m, "eval/worst": w, "eval/add/exact_match": a}
            for s, m, w, a in ((0, 0.0, 0.0, 0.0), (4, 0.6, 0.2, 1.0), (8, 0.5, 0.4, 0.6), (12, 0.55, 0.3, 0.8))]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ck = [(4, run / "checkpoints" / "checkpoint-4"), (8, run / "checkpoints" / "checkpoint-8")]
    rule = SelectRule.model_validate({"maximize": "mean", "subject_to": {"worst": ">= 0.3", "probe_drop": "<= 0"}})
    assert choose_checkpoint(run, rule, ck) == (run / "final", 12)  # probe_drop: judged at the table, not here
    assert choose_checkpoint(run, SelectRule(maximize="add"), ck) == (ck[0][1], 4)
    assert choose_checkpoint(run, SelectRule(maximize="worst"), ck) == (ck[1][1], 8)
