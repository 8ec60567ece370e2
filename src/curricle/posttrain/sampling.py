"""Sampled completions of the model being trained: ``k`` per prompt at a temperature, seeded.

Used by ``curricle rft`` (the candidates), and by RL's base sampling pass (each prompt's base
pass rate) and sampled pass@1 (:func:`sampled_pass_rates`). The sampling draws from a forked
torch generator, so it leaves the training run's random stream where it was.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch


@torch.no_grad()
def sample_completions(model, tokenizer, prompts: list[str], k: int, temperature: float, top_p: float,
                       max_new_tokens: int, until: list[str], seed: int, batch_size: int) -> list[list[str]]:
    """``k`` sampled completions per prompt (cut at the first of ``until``), seeded per batch.
    The prompts are padded on the left; the tokenizer's own side is left as it was (it is saved
    with the model)."""
    out: list[list[str]] = []
    for b in range(0, len(prompts), batch_size):
        chunk = prompts[b:b + batch_size]
        enc = tokenizer(chunk, return_tensors="pt", padding=True, padding_side="left").to(model.device)
        torch.manual_seed(seed * 1_000_003 + b)
        gen = model.generate(**enc, do_sample=True, temperature=temperature, top_p=top_p, top_k=0,
                             max_new_tokens=max_new_tokens, num_return_sequences=k,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        texts = tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        for i in range(len(chunk)):
            group = []
            for t in texts[i * k:(i + 1) * k]:
                for s in until:
                    if s:
                        t = t.split(s)[0]
                group.append(t)
            out.append(group)
    return out


def sample_apart(model, tokenizer, prompts: Sequence[str], k: int, temperature: float, max_new_tokens: int,
                 until: Sequence[str], seed: int, batch_size: int) -> list[list[str]]:
    """:func:`sample_completions` (top-p 1) in the middle of a training run: the model in eval
    mode, then back, and the global random state untouched."""
    was_training = model.training
    model.eval()
    try:
        devices = [model.device] if model.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            return sample_completions(model, tokenizer, list(prompts), k, temperature, 1.0, max_new_tokens,
                                      list(until), seed, batch_size)
    finally:
        model.train(was_training)


def sampled_pass_rates(model, tokenizer, prompts: Sequence[str], k: int, temperature: float, max_new_tokens: int,
                       until: Sequence[str], seed: int, batch_size: int,
                       passed: Callable[[int, str], bool]) -> list[float]:
    """Each prompt's share of ``k`` sampled completions that pass (``passed(index, text)``),
    sampled by :func:`sample_apart`."""
    groups = sample_apart(model, tokenizer, prompts, k, temperature, max_new_tokens, until, seed, batch_size)
    return [sum(passed(i, t) for t in group) / k for i, group in enumerate(groups)]
