"""Scoring sampled completions with a judge checkpoint, for tasks without a verifier.

A completion's score is the judge's log-odds of affirming a stated principle
(:class:`~curricle.dpo.config.JudgeConfig`)::

    score = log P(yes | T) - log P(no | T),  T = template.format(principle, prompt, completion)

``log P(v | T)`` is the sum of the log-probabilities of the verdict's tokens after ``T``, the
text and the verdict tokenized as lm-evaluation-harness splits a (context, continuation) pair,
by the judge's own tokenizer. The scoring is the probes' (:class:`~curricle.probes.lm.ProbeLM`):
batched, without gradients, each completion's text read once for both verdicts. A completion
whose text and verdict do not fit the judge's positions gets no score (``too_long_for_judge``:
never truncated, never a 0), nor does one whose score is not a finite number
(``judge_not_finite``); both are counted.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from curricle.dpo.config import JudgeConfig
from curricle.errors import CurricleError
from curricle.model.pretrained import checkpoint_dir, gguf_source
from curricle.posttrain.checkpoints import load_model
from curricle.probes.lm import ProbeLM


class Judge:
    """A judge model and its tokenizer, scoring (prompt, completion) pairs (see the module doc)."""

    def __init__(self, model, tokenizer, config: JudgeConfig, checkpoint: str = ""):
        self.config = config
        self.checkpoint = checkpoint
        self.lm = ProbeLM(model.eval(), tokenizer, batch_size=config.batch_size)

    @classmethod
    def load(cls, config: JudgeConfig, device, where: str = "judge") -> "Judge":
        """The judge of ``config`` on ``device``; a checkpoint that is not there or does not load
        is a one-line error naming ``where``'s field and the directory."""
        cls.check(config, where)
        src = config.model
        try:
            path = checkpoint_dir(src)
            model, tokenizer = load_model(Path(path).expanduser(), src.dtype)
        except CurricleError as err:  # "model.path: ..." -> "pairs.N.judge.model.path: ..."
            raise CurricleError(f"{where}.{err}") from None
        return cls(model.to(device), tokenizer, config, str(path))

    @staticmethod
    def check(config: JudgeConfig, where: str = "judge") -> None:
        """A one-line error naming ``where``'s field where the judge's ``path`` is no directory,
        its ``gguf`` no file or its ``preset``'s package or file is not installed (checked for
        every source before any is sampled; nothing is materialized)."""
        src = config.model
        if src.path is not None:
            if not Path(src.path).expanduser().is_dir():
                raise CurricleError(f"{where}.model.path: no such checkpoint directory: {src.path}")
            return
        try:
            gguf_source(src.preset, src.gguf)
        except CurricleError as err:  # "model.gguf: ..." -> "pairs.N.judge.model.gguf: ..."
            raise CurricleError(f"{where}.{err}") from None

    def text(self, prompt: str, completion: str) -> str:
        """What the judge reads before its verdict."""
        return self.config.template.format(principle=self.config.principle, prompt=prompt, completion=completion)

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> tuple[list[float | None], Counter]:
        """Each completion's score (None where there is none), and the unscored ones by reason."""
        lm, c = self.lm, self.config
        texts = [self.text(p, x) for p, x in zip(prompts, completions, strict=True)]
        encoded = lm.encode_pairs([(t, v) for t in texts for v in (c.yes, c.no)])
        scores: list[float | None] = [None] * len(texts)
        reasons: Counter = Counter()
        fits = []
        for k in range(len(texts)):
            yes, no = encoded[2 * k], encoded[2 * k + 1]
            # The model reads the text and the verdict less its last token (only predicted):
            # whole in max_length positions when text + verdict is at most max_length + 1 tokens.
            if max(len(yes[0]) + len(yes[1]), len(no[0]) + len(no[1])) > lm.max_length + 1:
                reasons["too_long_for_judge"] += 1
            else:
                fits.append(k)
        if fits:
            verdicts = lm.score_encoded([[encoded[2 * k], encoded[2 * k + 1]] for k in fits])
            for k, (yes, no) in zip(fits, verdicts):
                s = yes.logprob - no.logprob
                if math.isfinite(s):
                    scores[k] = s
                else:
                    reasons["judge_not_finite"] += 1
        return scores, reasons

    def describe(self) -> dict[str, Any]:
        """What ``RUN/pairs.json`` records of the judge."""
        c = self.config
        return {"model": self.checkpoint, "principle": c.principle, "template": c.template, "yes": c.yes,
                "no": c.no, "score": "log P(yes | template) - log P(no | template)"}
