"""The prefix-tree rows of ProbeLM: every read sees exactly its own path, and scores equal
one plain forward pass per (context, continuation) whatever the row and batch sizes."""

import math
import random

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from curricle.probes import SuiteConfig, builtin_tasks
from curricle.probes.lm import MAX_MASK_ENTRIES, ProbeLM
from curricle.probes.prefix_tree import Request, layout_rows
from curricle.probes.runner import score_tasks

# Float32 rounding of the same sums in another order: ~5e-7 measured on the micro model.
TOL = 1e-5


@pytest.fixture(scope="module")
def hf(checkpoint):
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint)).eval()
    return model, AutoTokenizer.from_pretrained(str(checkpoint))


def direct(hf, context: str, continuation: str) -> tuple[float, bool]:
    """Log P(continuation | context) and whether it is greedy, from one plain forward pass
    over exactly that pair (the context's trailing spaces moved, as lm-eval does)."""
    model, tok = hf
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    ctx = tok(context).input_ids
    cont = tok(context + continuation).input_ids[len(ctx):]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ctx + cont])).logits[0].double(), -1)
    rows = logp[len(ctx) - 1 : len(ctx) - 1 + len(cont)]
    return float(rows[torch.arange(len(cont)), torch.tensor(cont)].sum()), bool(
        (rows.argmax(-1) == torch.tensor(cont)).all())


def groups_to_score():
    """Items of tasks with multi-token, single-token and mixed-length choices, plus prompts
    that share a prefix, a choice that begins another, a repeated item and a trailing space."""
    tasks = builtin_tasks(SuiteConfig(n=8, tasks=["copy", "agreement", "facts", "brackets"]))
    groups = [(i.prompt, list(i.choices)) for t in tasks for i in t.items]
    groups += [
        ("copy: kelo mapu | kelo", [" mapu", " ma", " mapu kelo", " x"]),
        ("copy: kelo mapu | kelo", [" mapu", " ma", " mapu kelo", " x"]),  # the same item again
        ("copy: kelo mapu |", [" kelo mapu"]),                             # a prefix of the prompt above
        ("12+34= ", ["46", "47"]),                                          # trailing space
    ]
    return groups


@pytest.mark.parametrize("settings", [
    {},                                    # defaults: rows of 128 tokens, 64 rows a pass
    {"batch_size": 1},                     # a forward pass per row
    {"batch_size": 3, "row_tokens": 16},   # many rows, pieces cut mid-task, several batches
    {"row_tokens": 1},                     # a piece per shared prefix only
    {"pack": False, "batch_size": 2},      # no tree: a plain row per path
])
def test_tree_rows_score_each_pair_as_a_plain_pass_does(checkpoint, hf, settings):
    groups = groups_to_score()
    lm = ProbeLM.load(checkpoint, **settings)
    got = lm.score(groups)
    assert lm.pack is (settings.get("pack", True) is not False)
    for (prompt, conts), scores in zip(groups, got):
        for cont, s in zip(conts, scores):
            lp, greedy = direct(hf, prompt, cont)
            assert s.logprob == pytest.approx(lp, abs=TOL), (prompt, cont)
            assert s.is_greedy == greedy, (prompt, cont)


def test_long_contexts_are_left_truncated_as_lm_eval_does(checkpoint, hf):
    """With 10 positions, (context + continuation) keeps its last 11 tokens (the last is
    only predicted): truncated paths start at position 0 and still share the tree."""
    model, tok = hf
    groups = [("copy: kelo mapu lafo muti | kelo mapu", [" lafo", " la", " muti"]),  # 24 + 2..4 tokens
              ("copy: kelo mapu lafo muti | kelo", [" mapu", " ma", " mu"])]
    tree, plain = ProbeLM.load(checkpoint, max_length=10), ProbeLM.load(checkpoint, max_length=10, pack=False)
    a, b = tree.score(groups), plain.score(groups)
    for (prompt, conts), sa, sb in zip(groups, a, b):
        for cont, x, y in zip(conts, sa, sb):
            ctx = tok(prompt).input_ids
            ids = tok(prompt + cont).input_ids
            m = len(ids) - len(ctx)
            inp = ids[-11:][:-1]
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=torch.tensor([inp])).logits[0].double(), -1)
            want = float(sum(logp[len(inp) - m + k, ids[len(ids) - m + k]] for k in range(m)))
            assert x.logprob == pytest.approx(want, abs=TOL) and y.logprob == pytest.approx(want, abs=TOL)


def test_tree_and_plain_rows_agree_on_a_generation_task(checkpoint):
    task = builtin_tasks(SuiteConfig(n=12, tasks=["arithmetic-hard"]))[0]
    groups = [(i.prompt, i.choices) for i in task.items]
    args = ([i.prompt for i in task.items], [i.target for i in task.items], task.until, task.gen_tokens)
    tree, plain = ProbeLM.load(checkpoint, row_tokens=8), ProbeLM.load(checkpoint, pack=False)
    a, b = tree.score(groups), plain.score(groups)
    assert [x.logprob for g in a for x in g] == pytest.approx([x.logprob for g in b for x in g], abs=TOL)
    assert tree.greedy_matches(*args) == plain.greedy_matches(*args)


def test_score_and_match_is_score_plus_greedy_matches(checkpoint, lm):
    task = builtin_tasks(SuiteConfig(n=10, tasks=["copy"]))[0]
    groups = [(i.prompt, list(i.choices)) for i in task.items]
    groups.append(("copy: kelo mapu | kelo ", [" mapu", " kelo"]))  # its match path is not its scored path
    prompts, targets = [p for p, _ in groups], [c[0] for _, c in groups]
    scores, matches = lm.score_and_match(groups, ["\n"], 8)
    alone = ProbeLM.load(checkpoint)
    assert matches == alone.greedy_matches(prompts, targets, ["\n"], 8)
    flat = [s.logprob for g in scores for s in g]
    assert flat == pytest.approx([s.logprob for g in alone.score(groups) for s in g], abs=TOL)


def test_argmax_ties_go_to_the_first_token(checkpoint):
    """With every logit equal, argmax is token 0 (as torch.argmax, and lm-eval, have it):
    only a target of token 0 is greedy, and each token has probability 1/V."""
    lm = ProbeLM.load(checkpoint)
    with torch.no_grad():
        lm.model.get_output_embeddings().weight.zero_()
    (a, b, c), = lm.score_encoded([[([5, 6], [0]), ([5, 6], [7, 0]), ([5, 6], [7])]])
    vocab = lm.model.config.vocab_size
    assert (a.tokens, a.greedy_hits) == (1, 1) and a.is_greedy
    assert (b.tokens, b.greedy_hits) == (2, 1) and not b.is_greedy
    assert (c.tokens, c.greedy_hits) == (1, 0)
    assert a.logprob == pytest.approx(-math.log(vocab), abs=1e-6)
    assert b.logprob == pytest.approx(-2 * math.log(vocab), abs=1e-6)


def random_requests(seed: int, n: int = 60) -> list[Request]:
    rng = random.Random(seed)
    stems = [tuple(rng.randrange(50) for _ in range(rng.randint(1, 6))) for _ in range(5)]
    out = []
    for _ in range(n):
        path = rng.choice(stems) + tuple(rng.randrange(50) for _ in range(rng.randint(0, 8)))
        reads = [(i, rng.randrange(50)) for i in sorted(rng.sample(range(len(path)), rng.randint(1, len(path))))]
        out.append(Request(path, reads, argmax=rng.random() < 0.3))
    return out + out[:5]  # some paths twice


@pytest.mark.parametrize("row_tokens", [None, 1, 8, 128])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_read_sees_exactly_its_path(row_tokens, seed):
    requests = random_requests(seed)
    layout = layout_rows(requests, row_tokens)
    reads = [(r.path, i, t, r.argmax) for r in requests for i, t in r.reads]
    assert len(layout.targets) == len(reads)
    for rid, (path, i, target, want) in enumerate(reads):
        row = layout.rows[layout.read_row[rid]]
        o = int(layout.read_node[rid])
        seen = [k for k in range(o + 1) if row.end[k] > o]  # what the tree mask lets it attend to
        assert [row.tokens[k] for k in seen] == list(path[: i + 1])
        assert [row.pos[k] for k in seen] == list(range(i + 1))
        assert row.path_to(o) == path[: i + 1]
        assert layout.targets[rid] == target and layout.want_argmax[rid] == want
        assert rid in layout.by_row[layout.read_row[rid]]
    for row in layout.rows:
        assert row.masked == (row.pos != list(range(len(row.tokens))))
        if row_tokens is None:
            assert not row.masked
        else:
            longest = max(len(r.path) for r in requests)
            assert len(row.tokens) <= max(row_tokens, 2 * longest)


def test_tree_rows_hold_each_shared_prefix_once():
    requests = random_requests(3, n=30)
    prefixes = {r.path[:k] for r in requests for k in range(1, len(r.path) + 1)}
    layout = layout_rows(requests, 10_000)  # everything fits one piece per first token
    assert sum(len(row.tokens) for row in layout.rows) == len(prefixes)
    plain = layout_rows(requests, None)
    assert sum(len(row.tokens) for row in plain.rows) > len(prefixes)


def test_batches_cover_the_rows_in_order_within_limits(checkpoint):
    lm = ProbeLM.load(checkpoint, batch_size=8)
    lengths = [300] * 3 + [128] * 20 + [40] * 5 + [7]
    batches = lm._batches(lengths, masked=False)
    assert [i for b in batches for i in b] == list(range(len(lengths)))
    assert all(len(b) <= 8 for b in batches)
    assert list(batches[0]) == [0, 1, 2]  # long rows are not padded into short ones' batches
    huge = [int(math.isqrt(MAX_MASK_ENTRIES)) + 1] * 3
    assert [len(b) for b in lm._batches(huge, masked=True)] == [1, 1, 1]  # the mask would not fit twice
    assert [len(b) for b in lm._batches(huge, masked=False)] == [3]


def test_token_ids_are_memoized_and_shared(checkpoint):
    memo: dict[str, list[int]] = {}
    first, second = ProbeLM.load(checkpoint, token_memo=memo), ProbeLM.load(checkpoint, token_memo=memo)
    calls = []

    class Counting:
        def __init__(self, tokenizer):
            self.tokenizer = tokenizer

        def __call__(self, texts, *a, **kw):
            calls.append(list(texts))
            return self.tokenizer(texts, *a, **kw)

    second.tokenizer = Counting(second.tokenizer)
    texts = ["12+34=", "copy: ab | a", "12+34="]
    ids = first.encode_many(texts)
    assert second.encode_many(texts) == ids and calls == []  # all from the shared memo
    ids[0].append(99)  # callers get their own lists
    assert second.encode_many(["12+34="])[0] == first.tokenizer("12+34=").input_ids
    second.encode_many(["7+8=", "12+34="])
    assert calls == [["7+8="]]  # only the new text is tokenized


def test_the_first_calls_check_of_the_model_is_not_counted_as_tokens_read(checkpoint):
    # A fresh ProbeLM checks once, on its first batch, whether the model takes tree rows and a
    # read-only head; that is not probing, so the first scoring reads as many tokens as any
    # later one (and a resumed run's probes cost what the uninterrupted run's did).
    tasks = builtin_tasks(SuiteConfig(n=6, tasks=["agreement", "copy"]))
    lm = ProbeLM.load(checkpoint, batch_size=4)
    score_tasks(lm, tasks)
    first = lm.tokens_read
    score_tasks(lm, tasks)
    assert first > 0 and lm.tokens_read == 2 * first
