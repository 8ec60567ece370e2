"""``paraphrase``: a rewrite of the targeted document sampled from a local HF checkpoint.

The prompt (``{text}`` replaced by the document, cut to ``max_source_chars``) is continued by
the checkpoint with temperature and nucleus sampling, one token at a time, from a
``torch.Generator`` seeded with ``derive_seed(seed, i, try)`` (so a round is reproducible on the
same device), until its EOS or ``max_new_tokens``. The continuation (up to its first blank line,
stripped) is kept when it passes the filters, else counted under the first one it fails:
``too-short`` / ``too-long`` (characters against ``min_ratio`` / ``max_ratio`` of the source)
and, with ``max_loss``, ``high-loss`` (its mean token loss under the checkpoint itself: the
base model's judgement of fluency). Each wanted document gets ``tries`` samples.

The checkpoint is loaded when the first round needs it.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from curricle.augment.base import Augmented, Augmenter, Rejected, Target, derive_seed
from curricle.errors import CurricleError


class ParaphraseAugmenter(Augmenter):
    name = "paraphrase"

    def __init__(self, config, protect=None):
        super().__init__(config, protect)
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        if self._model is not None:
            return
        path = self.config.checkpoint
        if not (path / "config.json").is_file():
            raise CurricleError(f"augment.augmenter.checkpoint: {path} is not an HF checkpoint directory "
                                f"(no config.json)")
        self._tokenizer = AutoTokenizer.from_pretrained(str(path))
        self._model = AutoModelForCausalLM.from_pretrained(str(path)).to(self.config.device).eval()

    def sample(self, prompt: str, seed: int) -> str:
        """One continuation of ``prompt``, sampled from the checkpoint with ``seed``."""
        self._load()
        c, tok, model = self.config, self._tokenizer, self._model
        ids = tok(prompt, return_tensors="pt", add_special_tokens=False).input_ids.to(c.device)  # (1, T)
        limit = getattr(model.config, "max_position_embeddings", None)
        new = max(0, min(c.max_new_tokens, limit - ids.size(1))) if limit else c.max_new_tokens
        gen = torch.Generator(device=c.device).manual_seed(seed)
        out: list[int] = []
        past = None
        with torch.no_grad():
            x = ids
            for _ in range(new):
                res = model(input_ids=x, past_key_values=past, use_cache=True)
                past = res.past_key_values
                probs = torch.softmax(res.logits[0, -1].float() / c.temperature, dim=-1)  # (V,)
                sorted_p, order = torch.sort(probs, descending=True)
                keep = torch.cumsum(sorted_p, 0) - sorted_p < c.top_p  # the nucleus (at least one token)
                sorted_p = torch.where(keep, sorted_p, torch.zeros_like(sorted_p))
                token = int(order[torch.multinomial(sorted_p / sorted_p.sum(), 1, generator=gen)])
                if token == tok.eos_token_id:
                    break
                out.append(token)
                x = torch.tensor([[token]], device=c.device)
        text = tok.decode(out, skip_special_tokens=True)
        return text.split("\n\n")[0].strip()

    def loss(self, text: str) -> float | None:
        """Mean next-token loss of ``text`` under the checkpoint (None below two tokens)."""
        self._load()
        ids = self._tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids.to(self.config.device)
        if ids.size(1) < 2:
            return None
        with torch.no_grad():
            return float(self._model(input_ids=ids, labels=ids).loss)

    def augment(self, target: Target, n: int, seed: int) -> list[Augmented | Rejected]:
        if target.text is None:
            raise CurricleError(f"augment.augmenter: 'paraphrase' rewrites a document, but the target "
                                f"'{target.augmented_from}' has no text")
        c = self.config
        source = target.text[: c.max_source_chars]
        prompt = c.prompt.replace("{text}", source)
        out: list[Augmented | Rejected] = []
        for i in range(n):
            for t in range(c.tries):
                s = derive_seed(seed, i, t)
                text = self.sample(prompt, s)
                ratio = len(text) / max(1, len(source))
                if ratio < c.min_ratio:
                    out.append(Rejected("too-short"))
                    continue
                if ratio > c.max_ratio:
                    out.append(Rejected("too-long"))
                    continue
                loss = self.loss(text) if c.max_loss is not None else None
                if loss is not None and loss > c.max_loss:
                    out.append(Rejected("high-loss"))
                    continue
                out.append(Augmented(text, {"checkpoint": str(c.checkpoint), "seed": s, "try": t,
                                            "temperature": c.temperature, "top_p": c.top_p,
                                            **({"loss": round(loss, 6)} if loss is not None else {})}))
                break
        return out
