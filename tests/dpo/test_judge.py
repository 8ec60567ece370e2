"""A judge checkpoint scoring samples for tasks without a verifier: its scores are the log-odds
of " Yes" over " No" computed by hand on literal completions, chosen the best / rejected the
worst by them, near-ties dropped and counted, a judge with another tokenizer than the policy's,
texts too long for the judge counted (never scored 0), and one-line errors for bad judges."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from curricle.config import parse_model
from curricle.dpo import pairs as pairs_module
from curricle.dpo.command import collect_pairs
from curricle.dpo.config import DPOConfig, JudgeConfig, PairsFromSamples
from curricle.dpo.judge import Judge
from curricle.dpo.pairs import sample_pairs
from curricle.errors import CurricleError
from curricle.tasks.config import TaskConfig
from curricle.tasks.load import build_tasks
from tests.dpo.conftest import WORDS, dpo_config, tiny_judge

PRINCIPLE = "The response reverses the word."


@pytest.fixture(scope="module")
def judge_dir(tmp_path_factory) -> Path:
    """A tiny random Llama judge with its own tokenizer (not the policy's) and 512 positions."""
    return tiny_judge(tmp_path_factory.mktemp("judge"))


def by_hand(model, tokenizer, text: str, verdict: str) -> float:
    """log P(verdict | text): one forward pass over text + verdict, the verdict's tokens summed."""
    ctx = tokenizer(text).input_ids
    whole = tokenizer(text + verdict).input_ids
    assert whole[:len(ctx)] == ctx
    with torch.no_grad():
        logp = model(torch.tensor([whole])).logits.log_softmax(-1)[0]  # (T, vocab)
    return sum(logp[len(ctx) - 1 + k, t].item() for k, t in enumerate(whole[len(ctx):]))


def hand_scores(judge_dir: Path, prompts: list[str], completions: list[str]) -> list[float]:
    model = AutoModelForCausalLM.from_pretrained(str(judge_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(judge_dir))
    out = []
    for p, c in zip(prompts, completions):
        text = f"{PRINCIPLE}\nPrompt: {p}\nResponse: {c}\nDoes the response satisfy the principle? Answer:"
        out.append(by_hand(model, tokenizer, text, " Yes") - by_hand(model, tokenizer, text, " No"))
    return out


def judge_config(path: Path, **kw) -> JudgeConfig:
    return JudgeConfig.model_validate({"model": {"path": str(path)}, "principle": PRINCIPLE, **kw})


def test_a_judges_score_is_its_log_odds_of_yes_over_no(judge_dir):
    prompts = ["reverse: catdog ->", "reverse: catdog ->", "reverse: sunmap ->", "reverse: sunmap ->"]
    completions = [" godtac", " catdog", " pamnus", ""]
    judge = Judge.load(judge_config(judge_dir, batch_size=2), "cpu")
    scores, reasons = judge.score(prompts, completions)
    assert scores == pytest.approx(hand_scores(judge_dir, prompts, completions), abs=1e-4)
    assert reasons == {} and len(set(scores)) == 4
    # a text too long for the judge's 512 positions gets no score (not a truncated one, not 0)
    scores, reasons = judge.score(prompts[:2], [" godtac", " godtac" * 400])
    assert scores[1] is None and reasons == {"too_long_for_judge": 1}
    assert scores[0] == pytest.approx(hand_scores(judge_dir, prompts[:1], [" godtac"])[0], abs=1e-4)


def test_pairs_scored_by_a_judge_with_its_own_tokenizer(judge_dir, checkpoint, monkeypatch):
    policy = AutoTokenizer.from_pretrained(str(checkpoint))
    judge_tok = AutoTokenizer.from_pretrained(str(judge_dir))
    text = "reverse: catdog -> godtac"
    assert len(policy) != len(judge_tok) and len(policy(text).input_ids) != len(judge_tok(text).input_ids)
    tc = TaskConfig.model_validate({"name": "reverse", "source": {"kind": "builtin", "skill": "reverse", "n_train": 6,
                                                                   "n_heldout": 2, "n_test": 2}})
    task = build_tasks([tc])[0]
    items = sorted(task.train, key=lambda i: pairs_module.unit_hash("reverse", i.id))[:4]
    scripted = [[items[0].completion, " no", " x y"],
                [items[1].completion, " nope", " z"],
                [" same", " same", " same"],                   # equal scores: no margin
                [" a", " b" * 400, " c" * 400]]                # one sample fits the judge: ungraded
    monkeypatch.setattr(pairs_module, "sample_apart", lambda model, tok, prompts, k, *a: scripted)
    hand = [hand_scores(judge_dir, [i.prompt] * 3, group) for i, group in zip(items[:2], scripted[:2])]
    margins = [max(h) - min(h) for h in hand]
    min_margin = sum(margins) / 2  # between the two: the smaller margin is a near-tie
    src = PairsFromSamples.model_validate({"tasks": ["reverse"], "samples": 3, "max_prompts": 4, "score": "judge",
                                           "judge": {"model": {"path": str(judge_dir)}, "principle": PRINCIPLE},
                                           "min_margin": min_margin})
    judge = Judge.load(src.judge, "cpu")
    got, summary = sample_pairs(None, None, src, {"reverse": task}, {"reverse": tc}, seed=0, judge=judge)
    (k,) = [k for k in range(2) if margins[k] >= min_margin]
    group, h = scripted[k], hand[k]
    (pair,) = got
    assert (pair.chosen, pair.rejected) == (group[h.index(max(h))], group[h.index(min(h))])
    assert pair.margin == pytest.approx(margins[k], abs=1e-4) and pair.source == f"reverse:{items[k].id}"
    assert summary == {"reverse": {"prompts": 4, "samples": 12, "built": 1,
                                   "dropped": {"no_margin": 2, "ungraded": 1},
                                   "ungraded_samples": {"too_long_for_judge": 2}}}
    # the same judge without a near-tie threshold: both scripted pairs
    src0 = src.model_copy(update={"min_margin": 0.0})
    got, summary = sample_pairs(None, None, src0, {"reverse": task}, {"reverse": tc}, seed=0, judge=judge)
    assert [p.margin for p in got] == pytest.approx(margins, abs=1e-4)
    assert summary["reverse"]["dropped"] == {"no_margin": 1, "ungraded": 1}


def test_bad_judge_configs_are_one_line_errors_naming_the_field(tmp_path):
    base = dpo_config(tmp_path / "m", tmp_path / "p.jsonl")
    judge = {"model": {"path": str(tmp_path / "judge")}, "principle": PRINCIPLE}
    src = {"kind": "from_samples", "tasks": ["reverse"], "score": "judge"}
    cases = [
        ({**src, "judge": {"model": judge["model"]}}, "pairs.0.judge.principle: Field required"),
        (src, "pairs.0.from_samples: judge: needed with score: judge"),
        ({**src, "score": "grader", "judge": judge}, "judge: given, but score is grader"),
        ({**src, "judge": {**judge, "template": "{principle} {answer}"}},
         "pairs.0.judge: template: unknown field {answer} (fields: {principle}, {prompt}, {completion})"),
        ({**src, "judge": {**judge, "template": "{principle} {prompt}"}}, "template: no {completion} field"),
        ({**src, "judge": {**judge, "yes": " No"}}, "yes, no: two different, non-empty verdicts"),
        ({**src, "judge": judge, "min_margin": -1}, "pairs.0.min_margin: Input should be greater"),
    ]
    for change, message in cases:
        with pytest.raises(CurricleError) as err:
            parse_model({**base, "pairs": [change]}, DPOConfig, "dpo.yaml")
        assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    ok = parse_model({**base, "pairs": [{**src, "judge": judge}]}, DPOConfig, "dpo.yaml")
    assert ok.pairs[0].judge.template.endswith("Does the response satisfy the principle? Answer:")


def test_a_judge_checkpoint_not_found_is_a_one_line_error_before_any_sampling(tmp_path):
    base = dpo_config(tmp_path / "m", tmp_path / "p.jsonl")
    src = {"kind": "from_samples", "tasks": ["reverse"], "score": "judge"}
    missing = {"model": {"path": str(tmp_path / "nope")}, "principle": PRINCIPLE}
    cfg = parse_model({**base, "pairs": [{**src, "judge": {**missing, "model": {"path": str(tmp_path)}}},
                                         {**src, "judge": missing}]}, DPOConfig, "dpo.yaml")
    # source 1's judge is checked before source 0 samples (the policy is None: it never runs)
    with pytest.raises(CurricleError, match=rf"^pairs\.1\.judge\.model\.path: no such checkpoint directory: "
                                            rf"{re.escape(str(tmp_path / 'nope'))}$"):
        collect_pairs(cfg, None, None, [], tmp_path / "run", resume=False)
    # a directory that is not a checkpoint
    here = re.escape(str(tmp_path))
    with pytest.raises(CurricleError, match=rf"^pairs\.0\.judge\.model\.path: {here} is not an HF checkpoint "
                                            rf"directory \(no config\.json\)$"):
        Judge.load(cfg.pairs[0].judge, "cpu", "pairs.0.judge")


def test_a_text_that_exactly_fits_the_judges_positions_is_scored(tmp_path):
    """The judge reads the text and the verdict less its last token (only predicted): text +
    verdict of max_length + 1 tokens fits whole and is scored as by hand; one token more does not."""
    judge_dir = tiny_judge(tmp_path / "judge", max_positions=96)
    judge = Judge.load(judge_config(judge_dir), "cpu")
    lm, prompt = judge.lm, "reverse: catdog ->"

    def tokens(completion: str) -> int:  # text + the longer verdict, as the judge splits them
        text = judge.text(prompt, completion)
        return max(len(ctx) + len(cont) for ctx, cont in lm.encode_pairs([(text, " Yes"), (text, " No")]))

    grown = [" " + " ".join(WORDS * 3)[:n] for n in range(1, 300)]
    fits = next(c for c in grown if tokens(c) == lm.max_length + 1)
    over = next(c for c in grown if tokens(c) == lm.max_length + 2)
    assert lm.max_length == 96
    scores, reasons = judge.score([prompt, prompt], [fits, over])
    assert scores[1] is None and reasons == {"too_long_for_judge": 1}
    assert scores[0] == pytest.approx(hand_scores(judge_dir, [prompt], [fits])[0], abs=1e-4)


def test_a_judge_gguf_not_found_is_a_one_line_error_naming_its_field(tmp_path):
    base = dpo_config(tmp_path / "m", tmp_path / "p.jsonl")
    src = {"kind": "from_samples", "tasks": ["reverse"], "score": "judge"}
    gguf = tmp_path / "judge.gguf"
    cfg = parse_model({**base, "pairs": [{**src, "judge": {"model": {"gguf": str(gguf)}, "principle": PRINCIPLE}}]},
                      DPOConfig, "dpo.yaml")
    want = rf"^pairs\.0\.judge\.model\.gguf: no such file: {re.escape(str(gguf))}$"
    with pytest.raises(CurricleError, match=want):  # before any source is sampled (the policy is None)
        collect_pairs(cfg, None, None, [], tmp_path / "run", resume=False)
    with pytest.raises(CurricleError, match=want):
        Judge.load(cfg.pairs[0].judge, "cpu", "pairs.0.judge")
