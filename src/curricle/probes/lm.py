"""Scoring continuations and generating greedily with any HF causal LM, batched.

The conventions are lm-evaluation-harness's, so the two agree on the same items:

- a (context, continuation) pair is split as ``encode(context + continuation)`` after
  ``encode(context)`` (trailing spaces of the context move to the continuation); an empty
  context is the tokenizer's BOS (else EOS) token;
- a continuation's log-probability is the sum over its tokens; it is *greedy* when every
  token is the argmax;
- a passage (``loglikelihood_rolling``) is scored in disjoint windows of at most
  ``max_length`` predicted tokens, the first conditioned on BOS/EOS, each later one on as
  many preceding tokens as fit;
- generation is greedy, stopped at EOS or the first stop string, cut there.

What is ours is how the work is batched. All continuations of one prompt share one row: the
prompt once, then each continuation (less its last token, which is only ever predicted),
with position ids restarting after the prompt and a 4-D attention mask that lets each
continuation see the prompt and itself only. Single-token continuations (an agreement verb,
a closing bracket) then cost nothing beyond the prompt. Only the positions that are read
go through the output projection and the softmax. Both tricks are checked against a plain
forward pass on the first batch of every model, and turned off for a model whose numbers
differ (an architecture that ignores custom masks or scales its logits).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from curricle.errors import CurricleError

log = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 2048
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
class _Row:
    """One sequence of a batch: tokens with their positions and segments, and where to read.

    ``seg[i]`` is 0 for the shared prompt and ``j >= 1`` for continuation ``j``'s tokens;
    a token attends to earlier prompt tokens and earlier tokens of its own segment.
    ``reads`` are ``(output index, target token, request index)``.
    """

    tokens: list[int]
    pos: list[int]
    seg: list[int]
    reads: list[tuple[int, int, int]] = field(default_factory=list)
    packed: bool = False


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
    """A causal LM and its tokenizer, for scoring probe items in batches."""

    def __init__(self, model, tokenizer, batch_size: int = 64, max_length: int | None = None,
                 pack: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length or resolve_max_length(model, tokenizer)
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.eos_id = tokenizer.eos_token_id
        self.prefix_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else self.eos_id
        if self.prefix_id is None:
            raise CurricleError("the tokenizer has neither a BOS nor an EOS token to condition passages on")
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        #: Whether packed rows (shared prompt, 4-D mask) and the read-only head are in use;
        #: None until checked on the first batch.
        self.pack: bool | None = None if pack else False
        self.fast_head: bool | None = None
        self._warned_merge = False

    @classmethod
    def load(cls, path: Path | str, device: str = "cpu", dtype: str = "float32", **kw) -> "ProbeLM":
        """Load a local HF checkpoint (model and tokenizer) for scoring."""
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

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
        """Token ids of many texts in one tokenizer call (a Python call per text costs more
        than the tokenizing)."""
        return self.tokenizer(list(texts)).input_ids if texts else []

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
                cont = self.encode(continuation)
            out[i] = (ctx, cont)
        return out  # type: ignore[return-value]

    # -- scoring ----------------------------------------------------------------------------

    @torch.no_grad()
    def score(self, groups: Sequence[tuple[str, Sequence[str]]]) -> list[list[ContinuationScore]]:
        """Score each ``(context, [continuations])`` group: one :class:`ContinuationScore` per
        continuation, in order."""
        flat = self.encode_pairs([(context, c) for context, conts in groups for c in conts])
        encoded, k = [], 0
        for _, conts in groups:
            encoded.append(flat[k : k + len(conts)])
            k += len(conts)
        return self.score_encoded(encoded)

    @torch.no_grad()
    def score_encoded(self, groups: Sequence[Sequence[tuple[list[int], list[int]]]]) -> list[list[ContinuationScore]]:
        """Like :meth:`score` on token ids: each group is a list of (context, continuation)."""
        offsets, requests = [], 0
        for pairs in groups:
            offsets.append(requests)
            requests += len(pairs)

        def build() -> list[_Row]:
            return [r for g, pairs in enumerate(groups) for r in self._group_rows(pairs, offsets[g])]

        rows = build()
        if self.fast_head is None or (self.pack is None and any(r.packed for r in rows)):
            self._check_paths(rows)
            if self.pack is False and any(r.packed for r in rows):
                rows = build()  # this model cannot take packed rows: one row per continuation
        flat = self._run(rows, requests)
        return [flat[offsets[g] : offsets[g] + len(pairs)] for g, pairs in enumerate(groups)]

    @torch.no_grad()
    def score_rolling(self, texts: Sequence[str]) -> list[ContinuationScore]:
        """Score each passage from its start, in windows of at most ``max_length`` tokens."""
        rows = []
        L = self.max_length
        for r, ids in enumerate(self.encode_many(texts)):
            seq = [self.prefix_id] + ids  # seq[j] is predicted from seq[:j]
            n = len(seq) - 1
            start = 1
            while start <= n:
                end = min(start + L - 1, n)  # predict seq[start..end]
                lo = max(0, end - L)
                inp = seq[lo:end]
                first = start - 1 - lo  # output index predicting seq[start]
                reads = [(first + k, seq[start + k], r) for k in range(end - start + 1)]
                rows.append(_Row(inp, list(range(len(inp))), [0] * len(inp), reads))
                start = end + 1
        if self.fast_head is None and rows:
            self._check_paths(rows[:4])
        return self._run(rows, len(texts))

    def _group_rows(self, pairs: Sequence[tuple[list[int], list[int]]], first_request: int) -> list[_Row]:
        """Rows for the continuations of one context: one packed row when it fits (and packing
        is on), else one row per continuation, left-truncated as lm-eval truncates."""
        L = self.max_length
        ctxs = {tuple(c) for c, _ in pairs}
        if self.pack is not False and len(pairs) > 1 and len(ctxs) == 1:
            ctx = pairs[0][0]
            length = len(ctx) + sum(len(c) - 1 for _, c in pairs)
            if length <= L and all(len(ctx) + len(c) - 1 <= L for _, c in pairs):
                tokens, pos, seg = list(ctx), list(range(len(ctx))), [0] * len(ctx)
                reads = []
                for j, (_, cont) in enumerate(pairs, 1):
                    prev = len(ctx) - 1  # output index predicting cont[0]
                    for k, tok in enumerate(cont):
                        reads.append((prev, tok, first_request + j - 1))
                        if k < len(cont) - 1:
                            tokens.append(tok)
                            pos.append(len(ctx) + k)
                            seg.append(j)
                            prev = len(tokens) - 1
                # Only continuations of two or more tokens add segments; a row of one-token
                # choices is a plain causal row (all choices read at the prompt's last position).
                return [_Row(tokens, pos, seg, reads, packed=len(tokens) > len(ctx))]
        rows = []
        for j, (ctx, cont) in enumerate(pairs):
            whole = (ctx + cont)[-(L + 1):]
            inp = whole[:-1]
            m = len(cont)
            reads = [(len(inp) - m + k, cont[k], first_request + j) for k in range(m)]
            rows.append(_Row(inp, list(range(len(inp))), [0] * len(inp), reads))
        return rows

    def _run(self, rows: list[_Row], n_requests: int) -> list[ContinuationScore]:
        out = [ContinuationScore() for _ in range(n_requests)]
        if not rows:
            return out
        # Rows that need the packing mask batch together, so the others run without one.
        order = sorted(range(len(rows)), key=lambda i: (rows[i].packed, -len(rows[i].tokens)))
        for b in range(0, len(order), self.batch_size):
            batch = [rows[i] for i in order[b : b + self.batch_size]]
            lp, argmax = self._forward(batch, self.pack is True, self.fast_head is True)
            k = 0
            for row in batch:
                for _, tok, req in row.reads:
                    s = out[req]
                    s.logprob += lp[k]
                    s.tokens += 1
                    s.greedy_hits += int(argmax[k] == tok)
                    k += 1
        return out

    def _forward(self, batch: list[_Row], packed: bool, fast_head: bool) -> tuple[np.ndarray, np.ndarray]:
        """Log-probabilities of the read targets (float64) and the argmax token at each read."""
        T = max(len(r.tokens) for r in batch)
        B = len(batch)
        ids = torch.full((B, T), self.pad_id, dtype=torch.long)
        pos = torch.zeros((B, T), dtype=torch.long)
        seg = torch.full((B, T), -1, dtype=torch.long)
        for i, r in enumerate(batch):
            n = len(r.tokens)
            ids[i, :n] = torch.tensor(r.tokens)
            pos[i, :n] = torch.tensor(r.pos)
            seg[i, :n] = torch.tensor(r.seg)
        kwargs = {}
        if packed and any(r.packed for r in batch):
            # Padding gets a segment of its own per position: it sees only itself and the prompt.
            seg = torch.where(seg < 0, -1 - torch.arange(T).expand(B, T), seg)
            causal = torch.ones(T, T, dtype=torch.bool).tril()
            allowed = causal & ((seg[:, None, :] == 0) | (seg[:, None, :] == seg[:, :, None]))  # (B, Tq, Tk)
            mask = torch.zeros((B, 1, T, T), dtype=self.dtype)
            mask.masked_fill_(~allowed[:, None], torch.finfo(self.dtype).min)
            kwargs = {"attention_mask": mask.to(self.device), "position_ids": pos.to(self.device)}
        rows_idx = torch.tensor([i for i, r in enumerate(batch) for _ in r.reads])
        cols_idx = torch.tensor([o for r in batch for o, _, _ in r.reads])
        targets = torch.tensor([t for r in batch for _, t, _ in r.reads], device=self.device)
        ids = ids.to(self.device)
        if fast_head:
            hidden = self.model.get_decoder()(input_ids=ids, **kwargs).last_hidden_state  # (B, T, d)
            logits = self.model.get_output_embeddings()(hidden[rows_idx, cols_idx])       # (N, V)
        else:
            logits = self.model(input_ids=ids, **kwargs).logits[rows_idx, cols_idx]      # (N, V)
        logp = torch.log_softmax(logits.float(), dim=-1)
        lp = logp.gather(1, targets[:, None])[:, 0]
        return lp.double().cpu().numpy(), logits.argmax(-1).cpu().numpy()

    def _check_paths(self, rows: list[_Row]) -> None:
        """Decide ``pack`` and ``fast_head`` by comparing them with a plain forward pass on a
        few of ``rows`` (packed rows are checked against their unpacked equivalents)."""
        sample = [r for r in rows if r.packed][:2] or rows[:2]
        plain_lp = None
        if self.fast_head is None:
            ref, _ = self._forward(sample, packed=self.pack is not False, fast_head=False)
            try:
                fast, _ = self._forward(sample, packed=self.pack is not False, fast_head=True)
                self.fast_head = bool(np.max(np.abs(fast - ref)) < AGREE_TOL)
            except (AttributeError, TypeError, NotImplementedError, RuntimeError) as err:
                log.debug("read-only output head unavailable: %s", err)
                self.fast_head = False
            if not self.fast_head:
                log.info("this model's logits need the full forward pass (no read-only output head)")
            plain_lp = ref
        if self.pack is None:
            packed = [r for r in sample if r.packed]
            if not packed:
                return  # decide on a batch that has packed rows
            packed_lp = plain_lp if plain_lp is not None else self._forward(packed, True, False)[0]
            unpacked = []
            for r in packed:
                for o, t, req in r.reads:
                    # The same read in an unpacked row: the prompt, then this segment's tokens.
                    keep = [i for i in range(o + 1) if r.seg[i] in (0, r.seg[o])]
                    unpacked.append(_Row([r.tokens[i] for i in keep], list(range(len(keep))), [0] * len(keep),
                                         [(len(keep) - 1, t, req)]))
            unpacked_lp = self._forward(unpacked, False, False)[0]
            self.pack = bool(np.max(np.abs(packed_lp - unpacked_lp)) < AGREE_TOL)
            if not self.pack:
                log.info("this model ignores custom attention masks: scoring continuations one row each")

    # -- generation -------------------------------------------------------------------------

    @torch.no_grad()
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
        results: list[bool | None] = [None] * len(prompts)
        rows, conts = [], []
        ids = self.encode_many(list(prompts) + [p + t for p, t in zip(prompts, targets)])
        for i, (ctx, whole) in enumerate(zip(ids[: len(prompts)], ids[len(prompts):])):
            cont = whole[len(ctx):]
            if whole[: len(ctx)] != ctx or not cont or len(ctx) + len(cont) > self.max_length \
                    or len(ctx) > self.max_length - max_new_tokens:
                conts.append(None)  # generate it for real
                continue
            conts.append(cont)
            tokens = ctx + cont
            # Reads at the last prompt position and at every target position: the argmax
            # after each prefix (the target token read is a placeholder for the last one).
            reads = [(len(ctx) - 1 + k, (cont + [self.pad_id])[k], i) for k in range(len(cont) + 1)]
            rows.append(_Row(tokens, list(range(len(tokens))), [0] * len(tokens), reads))
        if self.fast_head is None and rows:
            self._check_paths(rows[:2])
        argmax_of: dict[int, list[int]] = {}
        order = sorted(range(len(rows)), key=lambda r: -len(rows[r].tokens))
        for b in range(0, len(order), self.batch_size):
            batch = [rows[r] for r in order[b : b + self.batch_size]]
            _, argmax = self._forward(batch, False, self.fast_head is True)
            k = 0
            for row in batch:
                argmax_of[row.reads[0][2]] = argmax[k : k + len(row.reads)].tolist()
                k += len(row.reads)
        undecided = []
        for i, cont in enumerate(conts):
            if cont is None:
                undecided.append(i)
                continue
            am = argmax_of[i]
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
