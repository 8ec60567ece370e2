"""Probe scores against a direct computation with transformers on the same items."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from curricle.probes import SCORERS, SuiteConfig, builtin_tasks, parse_task
from curricle.probes.lm import ProbeLM


@pytest.fixture(scope="module")
def hf(checkpoint):
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint)).eval()
    return model, AutoTokenizer.from_pretrained(str(checkpoint))


def direct_logprob(hf, context: str, continuation: str) -> tuple[float, bool]:
    """Sum of log P(continuation tokens | context) from one plain forward pass."""
    model, tok = hf
    ctx = tok(context).input_ids
    cont = tok(context + continuation).input_ids[len(ctx):]
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), -1)
    rows = logp[len(ctx) - 1 : len(ctx) - 1 + len(cont)]
    picked = rows[torch.arange(len(cont)), torch.tensor(cont)]
    return float(picked.sum()), bool((rows.argmax(-1) == torch.tensor(cont)).all())


def test_multiple_choice_matches_transformers(lm, hf):
    task = builtin_tasks(SuiteConfig(n=12, tasks=["reverse+uppercase"]))[0]
    score = SCORERS["multiple_choice"].score(lm, task)
    assert lm.pack is True and lm.fast_head is True  # the packed path was checked and used
    acc, prob, margin, logprob = [], [], [], []
    for item in task.items:
        lls = np.array([direct_logprob(hf, item.prompt, c)[0] for c in item.choices])
        acc.append(float(np.argmax(lls) == 0))
        prob.append(float(np.exp(lls[0]) / np.exp(lls).sum()))
        margin.append(float(lls[0] - lls[1:].max()))
        logprob.append(float(lls[0]))
    for name, values in (("acc", acc), ("prob", prob), ("margin", margin), ("logprob", logprob)):
        assert score.per_item[name] == pytest.approx(values, rel=1e-4, abs=1e-4), name
        assert score.metrics[name] == pytest.approx(np.mean(values), rel=1e-4, abs=1e-5)
        se = np.std(values, ddof=1) / math.sqrt(len(values))
        assert score.metrics[f"{name}_se"] == pytest.approx(se, rel=1e-3, abs=1e-6)


def test_packed_and_unpacked_rows_agree(checkpoint):
    task = builtin_tasks(SuiteConfig(n=10, tasks=["copy"]))[0]  # multi-token choices
    packed = ProbeLM.load(checkpoint, batch_size=3)
    plain = ProbeLM.load(checkpoint, batch_size=7, pack=False)
    a = SCORERS["multiple_choice"].score(packed, task).per_item
    b = SCORERS["multiple_choice"].score(plain, task).per_item
    assert packed.pack is True and plain.pack is False
    for k in ("logprob", "margin", "prob"):
        assert a[k] == pytest.approx(b[k], abs=1e-4)


def test_loglikelihood_accuracy_is_greedy(lm, hf):
    task = parse_task({"task": "ll", "output_type": "loglikelihood", "items": [
        {"prompt": "12+34=", "target": "46"}, {"prompt": "copy: ab cd | ab", "target": " cd"}]}, "t")
    score = SCORERS["loglikelihood"].score(lm, task)
    direct = [direct_logprob(hf, i.prompt, i.target) for i in task.items]
    assert score.per_item["logprob"] == pytest.approx([d[0] for d in direct], abs=1e-4)
    assert score.per_item["acc"] == [float(d[1]) for d in direct]


def test_rolling_loss_matches_transformers(lm, hf):
    model, tok = hf
    texts = ["The quick brown fox jumps over the lazy dog.\n", "def f(x):\n    return x + 1\n"]
    task = parse_task({"task": "text", "output_type": "loglikelihood_rolling",
                       "items": [{"prompt": "", "target": t} for t in texts]}, "t")
    score = SCORERS["loglikelihood_rolling"].score(lm, task)
    total_lp, total_tok, total_hit, total_bytes = 0.0, 0, 0, 0
    for t in texts:
        ids = [tok.eos_token_id] + tok(t).input_ids  # conditioned on EOS (= BOS for curricle)
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
        tgt = torch.tensor(ids[1:])
        total_lp += float(logp[:-1][torch.arange(len(tgt)), tgt].sum())
        total_hit += int((logp[:-1].argmax(-1) == tgt).sum())
        total_tok += len(tgt)
        total_bytes += len(t.encode())
    assert score.metrics["logprob"] == pytest.approx(total_lp / total_tok, rel=1e-5)
    assert score.metrics["acc"] == pytest.approx(total_hit / total_tok)
    assert score.metrics["bits_per_byte"] == pytest.approx(-total_lp / total_bytes / math.log(2), rel=1e-5)


def test_rolling_windows_cover_every_token_once(checkpoint, hf):
    _, tok = hf
    text = "one two three four five six seven eight nine ten eleven twelve\n" * 3
    short = ProbeLM.load(checkpoint, max_length=8)
    long = ProbeLM.load(checkpoint)
    a, b = short.score_rolling([text])[0], long.score_rolling([text])[0]
    assert a.tokens == b.tokens == len(tok(text).input_ids)
    assert a.logprob != pytest.approx(b.logprob)  # less context per window


def test_generation_exact_match_is_greedy_decoding(lm, hf):
    model, tok = hf
    prompts = ["12+34=", "copy: kelo mapu | kelo", "reverse: abc ->", "close: ([ ->", "7+8="]

    def greedy(prompt, n=6):
        ids = tok(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=n, do_sample=False, pad_token_id=tok.pad_token_id)
        return tok.decode(out[0, ids.size(1):], skip_special_tokens=True).split("\n")[0]

    gens = [greedy(p) for p in prompts]
    items = []
    for p, g in zip(prompts, gens):
        if g:
            items.append({"prompt": p, "target": g})            # the model's own answer: a match
        items.append({"prompt": p, "target": (g or "") + "zz"})  # never its answer
    task = parse_task({"task": "g", "output_type": "generate_until", "generation": {"max_gen_tokens": 6},
                       "items": items}, "t")
    score = SCORERS["generate_until"].score(lm, task)
    assert score.per_item["exact_match"] == [float(not i["target"].endswith("zz")) for i in items]
    # and ProbeLM.generate agrees with transformers' generate
    assert lm.generate(prompts, ["\n"], 6) == gens


def test_shortcuts_turn_off_for_models_they_do_not_fit(checkpoint):
    """A model that ignores custom attention masks, or whose logits are not its output
    layer applied to the last hidden state, is scored the plain way, with the same numbers."""
    task = builtin_tasks(SuiteConfig(n=6, tasks=["copy"]))[0]
    reference = SCORERS["multiple_choice"].score(ProbeLM.load(checkpoint, pack=False), task).per_item

    def blind_to(*names):
        """A model whose decoder drops these arguments (a custom mask, position ids)."""
        lm = ProbeLM.load(checkpoint)
        decoder = lm.model.get_decoder()
        forward = decoder.forward
        decoder.forward = lambda *a, **kw: forward(*a, **{k: v for k, v in kw.items() if k not in names})
        return lm

    for names in (("attention_mask", "position_ids"), ("attention_mask",)):
        blind = blind_to(*names)
        got = SCORERS["multiple_choice"].score(blind, task).per_item
        assert blind.pack is False and got["logprob"] == pytest.approx(reference["logprob"], abs=1e-4), names

    scaled = ProbeLM.load(checkpoint)
    head = scaled.model.get_output_embeddings()
    scaled.model.get_output_embeddings = lambda: (lambda h: 2.0 * head(h))  # not what forward() computes
    got = SCORERS["multiple_choice"].score(scaled, task).per_item
    assert scaled.fast_head is False and got["logprob"] == pytest.approx(reference["logprob"], abs=1e-4)


class BosTokenizer:
    """One token per character (its code + 3), BOS (1) first unless told not to, and "):" one
    token (250), as a merging tokenizer would make it."""

    bos_token_id, eos_token_id, pad_token_id = 1, 2, 0
    model_max_length = 10**30

    def _encode(self, text, special):
        ids = [1] if special else []
        for c in text:
            ids[-1:] = [250] if c == ":" and ids[-1:] == [ord(")") + 3] else ids[-1:] + [ord(c) + 3]
        return ids

    def __call__(self, texts, add_special_tokens=True):
        encode = self._encode
        return SimpleNamespace(input_ids=[encode(t, add_special_tokens) for t in texts] if isinstance(texts, list)
                               else encode(texts, add_special_tokens))

    def decode(self, ids, skip_special_tokens=False):
        return "".join("):" if i == 250 else chr(i - 3) if i > 2 else "" for i in ids)


class NextOf(torch.nn.Module):
    """Logit 5 (of 0) for the token that ``NEXT`` gives after the current one, else for EOS."""

    NEXT = {ord(a) + 3: ord(b) + 3 for a, b in ("xa", "ab", "b\n", "\n\n")}

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.config = SimpleNamespace(n_positions=64)

    def forward(self, input_ids, **kw):
        logits = torch.zeros(*input_ids.shape, 256)
        for b, row in enumerate(input_ids.tolist()):
            for t, tok in enumerate(row):
                logits[b, t, self.NEXT.get(tok, 2)] = 5.0
        return SimpleNamespace(logits=logits + self.w, past_key_values=None)


def test_a_text_that_may_still_reach_a_stop_string_is_generated_for_real():
    # After "x" the model writes "ab\n\n": cut at "\n\n" that is the target "ab", though the
    # teacher-forced pass only knows "ab\n" (the target and half a stop string).
    lm = ProbeLM(NextOf(), BosTokenizer(), max_length=64)
    assert lm.generate(["x"], ["\n\n"], 5) == ["ab"]
    assert lm.greedy_matches(["x", "x"], ["ab", "a"], ["\n\n"], 5) == [True, False]


def test_a_bos_adding_tokenizer_gives_a_passage_one_bos_and_a_merged_continuation_none():
    lm = ProbeLM(NextOf(), BosTokenizer(), max_length=64)
    # "ab" after BOS: "a" is not the argmax (EOS is), "b" after "a" is.
    lse = math.log(math.exp(5) + 255)
    [score] = lm.score_rolling(["ab"])
    assert (score.tokens, score.greedy_hits) == (2, 1) and score.logprob == pytest.approx(5 - 2 * lse)
    # ":" merges into "f)"'s last token, so it is scored encoded on its own, without a BOS.
    assert lm.encode_pair("f)", ":") == ([1, ord("f") + 3, ord(")") + 3], [ord(":") + 3])
