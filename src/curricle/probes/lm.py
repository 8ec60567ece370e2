"""Scoring continuations and generating greedily with any HF causal LM, batched.

The conventions are lm-evaluation-harness's, so the two agree on the same items:

- a (context, continuation) pair is split as ``encode(context + continuation)`` after
  ``encode(context)`` (trailing spaces of the context move to the continuation); an empty
  context is the tokenizer's BOS (else EOS) token;
- a continuation's log-probability is the sum over its tokens; it is *greedy* when every
  token is the argmax;
- a passage (``loglikelihood_rolling``) is tokenized without the tokenizer's special tokens
  and scored in disjoint windows of at most ``max_length`` predicted tokens, the first
  conditioned on BOS/EOS, each later one on as many preceding tokens as fit;
- generation is greedy, stopped at EOS or the first stop string, cut there.

What is ours is how the work is batched. Every question put to the model is a token sequence
(a *path*) and the positions of it whose next-token prediction is read. The paths of a call
are laid out as a prefix tree (:mod:`curricle.probes.prefix_tree`), so a token that several
paths share at the same depth runs once: the prompt that all choices of an item continue, the
instruction that many items begin with, the first tokens that choices have in common, the
target that both the exact-match check and the choice scoring read. Rows are cut from a depth-first walk of the tree, several
pieces to a row, so rows are nearly full; batches are cut from the rows sorted by length
where padding would cost more than another forward pass. A token's position
id is its depth and a 4-D attention mask lets it see exactly its ancestors, so it computes
what it would at that position of its own path. Only the read positions go through the output
projection, each once however many reads share it, and of the log-softmax only what the reads
need is computed (the maximum and its index, the log of the sum of exponentials). Both tricks
are checked against a plain forward pass on the first batch of every model, and turned off for
a model whose numbers differ (an architecture that ignores custom masks or position ids, or
scales its logits). A tree row adds different numbers in a different order than a row per
path, so scores move by float32 rounding (~1e-6 in a log-probability), nothing more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

from curricle.errors import CurricleError
from curricle.probes.prefix_tree import Layout, Request, layout_rows

log = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 2048
#: Tokens per row of the prefix tree (more where paths are long: twice the longest path).
DEFAULT_ROW_TOKENS = 128
#: At most this many attention-mask entries (rows x tokens x tokens) in one forward pass.
MAX_MASK_ENTRIES = 2**26
#: What a forward pass costs besides its tokens, in tokens (~3 ms on a CPU core, where a
#: token of a tiny model costs ~40 us): batches are cut where padding would cost more.
CALL_TOKENS = 64
#: Reads of a tree row checked against their paths run alone, when a model is first used.
CHECK_READS = 16
#: Two paths agree when every log-probability differs by less than this (fp32 noise is ~1e-5).
AGREE_TOL = 1e-3


@dataclass
class ContinuationScore:
    """Sums over one continuation's tokens."""

    logprob: float = 0.0
    tokens: int = 0
    greedy_hits: int = 0

    @property
    def is_greedy(self) -> bool:
        return self.greedy_hits == self.tokens


@dataclass
class _Plan:
    """A scoring call as requests, and how to turn their reads' results into its answer."""

    requests: list[Request]
    finish: Callable[[np.ndarray, np.ndarray], Any]


def resolve_max_length(model, tokenizer) -> int:
    """The longest input: the config's position limit, else the tokenizer's, else 2048."""
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        v = getattr(model.config, attr, None)
        if isinstance(v, int) and v > 0:
            return v
    v = getattr(tokenizer, "model_max_length", None)
    if isinstance(v, int) and 0 < v < 10**9:
        return v
    return DEFAULT_MAX_LENGTH


class ProbeLM:
    """A causal LM and its tokenizer, for scoring probe items in batches.

    ``batch_size``: rows per forward pass, each of up to ``row_tokens`` tokens (a row of the
    prefix tree holds many paths; longer where one path is longer). ``pack=False`` turns the
    tree off (one path per row). ``token_memo``: token ids by text, shareable between models
    whose tokenizer files are the same.
    """

    def __init__(self, model, tokenizer, batch_size: int = 64, max_length: int | None = None,
                 pack: bool = True, row_tokens: int = DEFAULT_ROW_TOKENS,
                 token_memo: dict[str, list[int]] | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if row_tokens < 1:
            raise ValueError(f"row_tokens must be >= 1, got {row_tokens}")
        self.model = model
        self.tokenizer = tokenizer
        #: Rows per forward pass; a row holds up to ``row_tokens`` tokens of many paths.
        self.batch_size = batch_size
        self.row_tokens = row_tokens
        self.max_length = max_length or resolve_max_length(model, tokenizer)
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.eos_id = tokenizer.eos_token_id
        self.prefix_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else self.eos_id
        if self.prefix_id is None:
            raise CurricleError("the tokenizer has neither a BOS nor an EOS token to condition passages on")
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        #: Whether tree rows (shared prefixes, 4-D mask) and the read-only head are in use;
        #: None until checked on the first batch.
        self.pack: bool | None = None if pack else False
        self.fast_head: bool | None = None
        self._warned_merge = False
        #: Token ids by text; models with the same tokenizer files may share one.
        self.token_memo = token_memo if token_memo is not None else {}
        #: Tokens the model has read so far (padding excluded): what probing costs.
        self.tokens_read = 0

    @classmethod
    def load(cls, path: Path | str, device: str = "cpu", dtype: str = "float32", **kw) -> "ProbeLM":
        """Load a local HF checkpoint (model and tokenizer) for scoring."""
        hf_logging.disable_progress_bar()
        torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=torch_dtype)
        except (OSError, ValueError) as err:
            raise CurricleError(f"{path}: cannot load a causal LM and tokenizer ({err})") from None
        return cls(model.to(device).eval(), tokenizer, **kw)

    # -- tokenization -----------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text).input_ids

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of many texts, each tokenized once per :attr:`token_memo`, the new ones
        in one tokenizer call (a Python call per text costs more than the tokenizing)."""
        memo = self.token_memo
        new = list(dict.fromkeys(t for t in texts if t not in memo))
        if new:
            memo.update(zip(new, self.tokenizer(new).input_ids))
        return [list(memo[t]) for t in texts]

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """``(context ids, continuation ids)`` split the way lm-evaluation-harness splits them."""
        return self.encode_pairs([(context, continuation)])[0]

    def encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        """:meth:`encode_pair` of many pairs, tokenized in one batch (each context once)."""
        out: list[tuple[list[int], list[int]] | None] = [None] * len(pairs)
        todo = []  # (index, context, continuation) after moving trailing spaces
        for i, (context, continuation) in enumerate(pairs):
            if not context:
                cont = self.tokenizer(continuation, add_special_tokens=False).input_ids
                # BOS/EOS as the context, unless the continuation already starts with it.
                out[i] = ([self.prefix_id], cont) if cont[:1] != [self.prefix_id] else (cont[:1], cont[1:])
                continue
            n_spaces = len(context) - len(context.rstrip())
            if n_spaces:
                context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
            todo.append((i, context, continuation))
        contexts = list(dict.fromkeys(c for _, c, _ in todo))
        ids = self.encode_many(contexts + [c + x for _, c, x in todo])
        ctx_ids = dict(zip(contexts, ids[: len(contexts)]))
        for (i, context, continuation), whole in zip(todo, ids[len(contexts):]):
            ctx = ctx_ids[context]
            cont = whole[len(ctx):]
            if not cont:
                # The tokenizer merged the continuation into the context's last token ("):"
                # after ")"). lm-eval would score an empty continuation; we score it alone.
                if not self._warned_merge:
                    log.warning("a continuation merges with its context when tokenized (%r + %r); scoring "
                                "it encoded on its own", context[-20:], continuation)
                    self._warned_merge = True
                cont = self.tokenizer(continuation, add_special_tokens=False).input_ids
            out[i] = (ctx, cont)
        return out  # type: ignore[return-value]

    # -- scoring ----------------------------------------------------------------------------

    def score(self, groups: Sequence[tuple[str, Sequence[str]]]) -> list[list[ContinuationScore]]:
        """Score each ``(context, [continuations])`` group: one :class:`ContinuationScore` per
        continuation, in order."""
        return self._execute(self._plan_score(groups))

    def score_encoded(self, groups: Sequence[Sequence[tuple[list[int], list[int]]]]) -> list[list[ContinuationScore]]:
        """Like :meth:`score` on token ids: each group is a list of (context, continuation)."""
        return self._execute(self._plan_encoded(groups))

    def score_rolling(self, texts: Sequence[str]) -> list[ContinuationScore]:
        """Score each passage from its start, in windows of at most ``max_length`` tokens."""
        return self._execute(self._plan_rolling(texts))

    def score_and_match(self, groups: Sequence[tuple[str, Sequence[str]]], until: Sequence[str],
                        max_new_tokens: int) -> tuple[list[list[ContinuationScore]], list[bool]]:
        """``score(groups)`` and ``greedy_matches`` of each group's first continuation (its
        target), from one pass: the teacher-forced target the exact match needs is the
        scored target plus one token, so in the prefix tree it costs one token per item."""
        return self._execute(self._plan_score_and_match(groups, until, max_new_tokens))

    def _execute(self, plan: _Plan) -> Any:
        return plan.finish(*self._run(plan.requests))

    def _plan_score(self, groups: Sequence[tuple[str, Sequence[str]]]) -> _Plan:
        return self._plan_encoded(self._encode_groups(groups))

    def _plan_encoded(self, groups: Sequence[Sequence[tuple[list[int], list[int]]]]) -> _Plan:
        requests = self._pair_requests([pair for pairs in groups for pair in pairs])
        return _Plan(requests, lambda lp, argmax: _split(
            self._totals(requests, lp, argmax, range(len(requests)), len(requests)), groups))

    def _plan_rolling(self, texts: Sequence[str]) -> _Plan:
        requests, owners = [], []
        L = self.max_length
        # Without the tokenizer's special tokens: the passage is conditioned on one BOS/EOS, not
        # on that and the BOS a tokenizer may put first.
        texts = list(texts)
        for r, ids in enumerate(self.tokenizer(texts, add_special_tokens=False).input_ids if texts else []):
            seq = [self.prefix_id] + ids  # seq[j] is predicted from seq[:j]
            n = len(seq) - 1
            start = 1
            while start <= n:
                end = min(start + L - 1, n)  # predict seq[start..end]
                lo = max(0, end - L)
                first = start - 1 - lo  # path index predicting seq[start]
                requests.append(Request(tuple(seq[lo:end]), [(first + k, seq[start + k])
                                                              for k in range(end - start + 1)]))
                owners.append(r)
                start = end + 1
        return _Plan(requests, lambda lp, argmax: self._totals(requests, lp, argmax, owners, len(texts)))

    def _plan_score_and_match(self, groups: Sequence[tuple[str, Sequence[str]]], until: Sequence[str],
                              max_new_tokens: int) -> _Plan:
        pairs = self._plan_score(groups)
        matches = self._plan_greedy([c for c, _ in groups], [conts[0] for _, conts in groups], until,
                                    max_new_tokens)
        n = sum(len(r.reads) for r in pairs.requests)
        return _Plan(pairs.requests + matches.requests, lambda lp, argmax: (
            pairs.finish(lp[:n], argmax[:n]), matches.finish(lp[n:], argmax[n:])))

    def _encode_groups(self, groups: Sequence[tuple[str, Sequence[str]]]) -> list[list[tuple[list[int], list[int]]]]:
        flat = self.encode_pairs([(context, c) for context, conts in groups for c in conts])
        return _split(flat, [conts for _, conts in groups])

    def _pair_requests(self, pairs: Sequence[tuple[list[int], list[int]]]) -> list[Request]:
        """One request per (context, continuation): the context and the continuation less its
        last token (which is only predicted), left-truncated to ``max_length`` as lm-eval
        truncates, read at every continuation token."""
        L = self.max_length
        requests = []
        for ctx, cont in pairs:
            m = len(cont)
            if m > L:
                raise CurricleError(f"a continuation of {m} tokens is longer than the model's {L} positions")
            path = tuple((ctx + cont)[-(L + 1):][:-1])
            requests.append(Request(path, [(len(path) - m + k, cont[k]) for k in range(m)]))
        return requests

    @staticmethod
    def _totals(requests: Sequence[Request], lp: np.ndarray, argmax: np.ndarray, owners: Sequence[int],
                n: int) -> list[ContinuationScore]:
        """Per owner, the sums over the reads of its requests."""
        counts = [len(r.reads) for r in requests]
        owner = np.repeat(np.asarray(owners, dtype=np.int64), counts)
        targets = np.fromiter((t for r in requests for _, t in r.reads), dtype=np.int64, count=len(owner))
        logprob = np.bincount(owner, weights=lp, minlength=n)
        tokens = np.bincount(owner, minlength=n)
        hits = np.bincount(owner, weights=(argmax == targets), minlength=n)
        return [ContinuationScore(float(a), int(b), int(c)) for a, b, c in zip(logprob, tokens, hits)]

    # -- the prefix tree ----------------------------------------------------------------------

    @torch.no_grad()
    def _run(self, requests: Sequence[Request]) -> tuple[np.ndarray, np.ndarray]:
        """Every read of every request, in order: its log-probability (float64) and the
        argmax token at its position (-1 where not wanted and not the target)."""
        n = sum(len(r.reads) for r in requests)
        lp, argmax = np.zeros(n), np.full(n, -1, dtype=np.int64)
        if not n:
            return lp, argmax
        layout = layout_rows(requests, self.row_tokens if self.pack is not False else None)
        if self.fast_head is None or (self.pack is None and any(r.masked for r in layout.rows)):
            self._check_paths(layout)
            if self.pack is False and any(r.masked for r in layout.rows):
                layout = layout_rows(requests, None)  # this model cannot take tree rows: one path per row
        for masked in (False, True):
            todo = sorted((i for i, r in enumerate(layout.rows) if r.masked == masked),
                          key=lambda i: -len(layout.rows[i].tokens))
            for batch in self._batches([len(layout.rows[i].tokens) for i in todo], masked):
                ids, blp, bargmax = self._forward(layout, [todo[i] for i in batch], self.fast_head is True)
                lp[ids], argmax[ids] = blp, bargmax
        return lp, argmax

    def _batches(self, lengths: list[int], masked: bool) -> list[range]:
        """Consecutive batches of rows sorted longest first, each padded to its first row:
        at most ``batch_size`` rows (fewer where a tree mask of ``MAX_MASK_ENTRIES`` would
        not hold them), cut where the fewest padded tokens plus ``CALL_TOKENS`` per forward
        pass are run (a dynamic program over the cut points)."""
        n = len(lengths)
        best = [0.0] + [float("inf")] * n  # best[j]: cost of the first j rows
        cut = [0] * (n + 1)
        for i in range(n):  # a batch starting at row i, padded to lengths[i]
            size = self.batch_size
            if masked:  # the mask has B * T * T entries
                size = max(1, min(size, MAX_MASK_ENTRIES // lengths[i] ** 2))
            for j in range(i + 1, min(n, i + size) + 1):
                cost = best[i] + CALL_TOKENS + (j - i) * lengths[i]
                if cost < best[j]:
                    best[j], cut[j] = cost, i
        out, j = [], n
        while j:
            out.append(range(cut[j], j))
            j = cut[j]
        return out[::-1]

    def _forward(self, layout: Layout, batch: list[int], fast_head: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The reads of rows ``batch``: their ids, log-probabilities (float64) and argmax tokens."""
        rows = [layout.rows[i] for i in batch]
        B, T = len(rows), max(len(r.tokens) for r in rows)
        self.tokens_read += sum(len(r.tokens) for r in rows)
        ids = np.full((B, T), self.pad_id, dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r.tokens)] = r.tokens
        kwargs = {}
        if any(r.masked for r in rows):
            pos = np.zeros((B, T), dtype=np.int64)
            end = np.tile(np.arange(1, T + 1), (B, 1))  # padding sees only itself
            for i, r in enumerate(rows):
                pos[i, : len(r.tokens)] = r.pos
                end[i, : len(r.tokens)] = r.end
            q = torch.arange(T)
            # Key k is visible from query q when q is k or one of its descendants.
            allowed = (q[None, None, :] <= q[None, :, None]) & (torch.from_numpy(end)[:, None, :] > q[None, :, None])
            mask = torch.zeros((B, 1, T, T), dtype=self.dtype)  # (B, 1, Tq, Tk)
            mask.masked_fill_(~allowed[:, None], torch.finfo(self.dtype).min)
            kwargs = {"attention_mask": mask.to(self.device), "position_ids": torch.from_numpy(pos).to(self.device)}
        # Each read position goes through the output head once, however many reads it serves.
        reads = np.concatenate([layout.by_row[i] for i in batch])
        local = np.zeros(len(layout.rows), dtype=np.int64)
        local[batch] = np.arange(B)
        where, slot = np.unique(local[layout.read_row[reads]] * T + layout.read_node[reads], return_inverse=True)
        targets = layout.targets[reads]
        input_ids = torch.from_numpy(ids).to(self.device)
        rows_t = torch.from_numpy(where // T).to(self.device)
        cols_t = torch.from_numpy(where % T).to(self.device)
        if fast_head:
            hidden = self.model.get_decoder()(input_ids=input_ids, **kwargs).last_hidden_state  # (B, T, d)
            logits = self.model.get_output_embeddings()(hidden[rows_t, cols_t])               # (S, V)
        else:
            logits = self.model(input_ids=input_ids, **kwargs).logits[rows_t, cols_t]         # (S, V)
        logits = logits.float()
        slot_t = torch.from_numpy(slot).to(self.device)
        top = logits.amax(-1)                                                         # (S,)
        picked = logits[slot_t, torch.from_numpy(targets).to(self.device).clamp(min=0)]  # (R,)
        top_r, picked = top.cpu().double()[slot], picked.cpu().double()
        # The argmax token where the caller wants it or the target reaches the maximum (then
        # the first index of the maximum decides, as argmax does); elsewhere it is not the target.
        need = np.unique(slot[layout.want_argmax[reads] | (picked.numpy() == top_r.numpy())])
        argmax = np.full(len(where), -1, dtype=np.int64)
        if len(need):
            need_t = torch.from_numpy(need).to(self.device)
            argmax[need] = logits[need_t].argmax(-1).cpu().numpy()
        sumexp = logits.sub_(top[:, None]).exp_().sum(-1)                             # (S,)
        # log_softmax at the target, (x_t - max) - log(sum(exp(x - max))), the last steps in float64
        lp = (picked - top_r) - sumexp.cpu().double().log()[slot]
        return reads, lp.numpy(), argmax[slot]

    def _check_paths(self, layout: Layout) -> None:
        """Decide ``pack`` and ``fast_head`` (:meth:`_decide_paths`). Its forward passes are
        not counted in ``tokens_read``: a one-time check of the model, not what probing costs,
        and one a resumed run would pay again (its probe tokens would differ from the
        uninterrupted run's)."""
        read = self.tokens_read
        try:
            self._decide_paths(layout)
        finally:
            self.tokens_read = read

    def _decide_paths(self, layout: Layout) -> None:
        """Decide ``pack`` and ``fast_head`` by comparing them with a plain forward pass on a
        few rows (reads of a tree row are checked against their paths run alone)."""
        sample = [i for i, r in enumerate(layout.rows) if r.masked][:1] or list(range(min(2, len(layout.rows))))
        ref = None
        if self.fast_head is None:
            ref = self._forward(layout, sample, fast_head=False)
            try:
                fast = self._forward(layout, sample, fast_head=True)
                self.fast_head = bool(np.max(np.abs(fast[1] - ref[1])) < AGREE_TOL)
            except (AttributeError, TypeError, NotImplementedError, RuntimeError) as err:
                log.debug("read-only output head unavailable: %s", err)
                self.fast_head = False
            if not self.fast_head:
                log.info("this model's logits need the full forward pass (no read-only output head)")
        if self.pack is None:
            if not layout.rows[sample[0]].masked:
                return  # decide on a batch that has tree rows
            if ref is None:
                ref = self._forward(layout, sample, fast_head=False)
            row, reads = layout.rows[sample[0]], layout.by_row[sample[0]]
            # Reads spread over the row (the last ones sit deep in a later piece), each rerun
            # as its own path: the read token and its ancestors, from position 0.
            picks = reads[np.unique(np.linspace(0, len(reads) - 1, CHECK_READS).round().astype(np.int64))]
            alone = []
            for rid in picks:
                path = row.path_to(int(layout.read_node[rid]))
                alone.append(Request(path, [(len(path) - 1, int(layout.targets[rid]))]))
            plain = layout_rows(alone, None)
            ids, lp, _ = self._forward(plain, list(range(len(plain.rows))), fast_head=False)
            packed_lp = dict(zip(ref[0].tolist(), ref[1].tolist()))
            self.pack = bool(max(abs(packed_lp[int(picks[i])] - x) for i, x in zip(ids.tolist(), lp.tolist()))
                             < AGREE_TOL)
            if not self.pack:
                log.info("this model ignores custom attention masks or position ids: scoring each sequence "
                         "in a row of its own")

    # -- generation -------------------------------------------------------------------------

    def greedy_matches(self, prompts: Sequence[str], targets: Sequence[str], until: Sequence[str],
                       max_new_tokens: int) -> list[bool]:
        """Whether greedy generation from each prompt, cut at ``until``, equals its target:
        the answer :meth:`generate` would give, mostly without generating.

        One teacher-forced pass over ``prompt + target`` gives the argmax after every prefix
        of the target. Greedy decoding follows the target's tokens while they are the argmax,
        so the generation is known up to the first token that is not: if by then the text has
        stopped, or has left the target, the answer is decided. Only the rare item whose
        generation could still spell the target another way (a different split into tokens)
        is generated for real.
        """
        return self._execute(self._plan_greedy(prompts, targets, until, max_new_tokens))

    def _plan_greedy(self, prompts: Sequence[str], targets: Sequence[str], until: Sequence[str],
                     max_new_tokens: int) -> _Plan:
        requests, conts = self._match_requests(prompts, targets, max_new_tokens)
        return _Plan(requests, lambda lp, argmax: self._matches(conts, argmax, prompts, targets, until,
                                                                max_new_tokens))

    def _match_requests(self, prompts: Sequence[str], targets: Sequence[str],
                        max_new_tokens: int) -> tuple[list[Request], list[list[int] | None]]:
        """Teacher-forced ``prompt + target`` requests, read at the last prompt position and
        at every target position (the last read, after the whole target, is argmax only);
        and each item's target tokens, None for an item to generate for real."""
        requests, conts = [], []
        ids = self.encode_many(list(prompts) + [p + t for p, t in zip(prompts, targets)])
        for ctx, whole in zip(ids[: len(prompts)], ids[len(prompts):]):
            cont = whole[len(ctx):]
            if whole[: len(ctx)] != ctx or not cont or len(whole) > self.max_length \
                    or len(ctx) > self.max_length - max_new_tokens:
                conts.append(None)  # generate it for real
                continue
            conts.append(cont)
            requests.append(Request(tuple(whole), [(len(ctx) - 1 + k, t) for k, t in enumerate(cont + [-1])],
                                     argmax=True))
        return requests, conts

    def _matches(self, conts: list[list[int] | None], argmax: np.ndarray, prompts: Sequence[str],
                 targets: Sequence[str], until: Sequence[str], max_new_tokens: int) -> list[bool]:
        results: list[bool | None] = [None] * len(conts)
        undecided, k0 = [], 0
        for i, cont in enumerate(conts):
            if cont is None:
                undecided.append(i)
                continue
            am = argmax[k0 : k0 + len(cont) + 1].tolist()  # the argmax after each prefix of the target
            k0 += len(cont) + 1
            k = 0
            while k < len(cont) and am[k] == cont[k]:
                k += 1
            generated = (cont[:k] + [am[k]])[:max_new_tokens]
            results[i] = self._decide(generated, targets[i], until)
            if results[i] is None:
                undecided.append(i)
        if undecided:
            texts = self.generate([prompts[i] for i in undecided], until, max_new_tokens)
            for i, text in zip(undecided, texts):
                results[i] = text == targets[i]
        return [bool(r) for r in results]

    def _decide(self, generated: list[int], target: str, until: Sequence[str]) -> bool | None:
        """Exact match of a greedy generation known to start with ``generated``; None when
        the rest of the generation could still decide it."""
        if generated and generated[-1] == self.eos_id:
            generated = generated[:-1]
            stopped = True
        else:
            stopped = False
        text = self.tokenizer.decode(generated, skip_special_tokens=True)
        for s in until:
            if s and s in text:
                text, stopped = text.split(s)[0], True
        if stopped:
            return text == target
        if "\ufffd" in text or target.startswith(text):
            return None  # an incomplete character, or the target spelled another way so far
        if text.startswith(target) and any(s.startswith(text[len(target):]) for s in until):
            return None  # the target and the start of a stop string, which the next tokens may finish
        return False

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], until: Sequence[str], max_new_tokens: int) -> list[str]:
        """Greedy continuations of ``prompts``, cut at the first of ``until`` (or EOS)."""
        out: list[str] = [""] * len(prompts)
        encoded = self.encode_many(prompts)
        max_ctx = max(1, self.max_length - max_new_tokens)
        order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            texts = self._generate_batch([encoded[i][-max_ctx:] for i in idx], until, max_new_tokens)
            for i, t in zip(idx, texts):
                out[i] = t
        return out

    def _generate_batch(self, prompts: list[list[int]], until: Sequence[str], max_new: int) -> list[str]:
        B, T = len(prompts), max(len(p) for p in prompts)
        ids = torch.full((B, T), self.pad_id, dtype=torch.long)
        mask = torch.zeros((B, T), dtype=torch.long)
        for i, p in enumerate(prompts):  # left padding: every row's next token is at the end
            ids[i, T - len(p):] = torch.tensor(p)
            mask[i, T - len(p):] = 1
        self.tokens_read += sum(len(p) for p in prompts)
        ids, mask = ids.to(self.device), mask.to(self.device)
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        generated: list[list[int]] = [[] for _ in range(B)]
        done = [False] * B
        eos = self.eos_id
        cache = None
        step_ids, step_pos = ids, pos
        for _ in range(max_new):
            res = self.model(input_ids=step_ids, attention_mask=mask, position_ids=step_pos,
                             past_key_values=cache, use_cache=True)
            cache = res.past_key_values
            nxt = res.logits[:, -1].argmax(-1)  # (B,)
            for i, tok in enumerate(nxt.tolist()):
                if done[i]:
                    continue
                if tok == eos:
                    done[i] = True
                    continue
                generated[i].append(tok)
                text = self.tokenizer.decode(generated[i], skip_special_tokens=True)
                if any(s and s in text for s in until):
                    done[i] = True
            if all(done):
                break
            step_ids = nxt[:, None]
            self.tokens_read += B
            step_pos = step_pos[:, -1:] + 1
            mask = torch.cat([mask, torch.ones((B, 1), dtype=mask.dtype, device=mask.device)], dim=1)
        texts = []
        for g in generated:
            text = self.tokenizer.decode(g, skip_special_tokens=True)
            for s in until:
                if s:
                    text = text.split(s)[0]
            texts.append(text)
        return texts


def _split(flat: Sequence, groups: Sequence[Sequence]) -> list[list]:
    """``flat`` cut into lists as long as ``groups``' members."""
    out, k = [], 0
    for g in groups:
        out.append(list(flat[k : k + len(g)]))
        k += len(g)
    return out


