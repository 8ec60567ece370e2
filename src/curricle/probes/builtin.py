"""The built-in probe suite: every synthetic skill, code syntax, and held-out text loss.

- one task per registered synthetic skill (``curricle.synthetic.GENERATORS``), from its
  held-out items with a fixed seed: multiple choice against the generator's distractors,
  except ``arithmetic``, ``arithmetic-hard`` and ``copy``, scored by exact match of a greedy
  generation (their continuous scores still rank the target against the distractors); a
  skill given ``levels`` has one task per level of its ladder instead, ``skill@level``;
- ``code-syntax``: closing brackets and block colons of made-up Python lines;
- ``<domain>-loss`` for each of ``text_domains`` the token store has: next-token loss and
  accuracy on passages of its held-out documents (skipped, with a log line, without a store).
"""

from __future__ import annotations

import logging
from pathlib import Path

from curricle.errors import CurricleError
from curricle.probes.config import SuiteConfig
from curricle.probes.datasets import BuildContext
from curricle.probes.datasets.code_syntax import CodeSyntaxDatasetConfig
from curricle.probes.datasets.generator import GeneratorDatasetConfig
from curricle.probes.datasets.heldout_text import HeldoutTextDatasetConfig
from curricle.probes.task import GenerationConfig, ProbeTask, TaskConfig, build_task
from curricle.store import TokenStore
from curricle.synthetic import GENERATORS, level_name

log = logging.getLogger(__name__)

#: Synthetic skills scored by exact match of a greedy generation; the rest are multiple choice.
GENERATED = ("arithmetic", "arithmetic-hard", "copy")


def builtin_task_names(text_domains: list[str] | tuple[str, ...] = ("code", "prose")) -> list[str]:
    return [*GENERATORS, "code-syntax", *(f"{d}-loss" for d in text_domains)]


def builtin_task_configs(config: SuiteConfig | None = None, domains: list[str] | None = None) -> list[TaskConfig]:
    """The suite's task configs; ``domains`` are the store's (None: no store, no text probes)."""
    config = config or SuiteConfig()
    out = []
    for skill in GENERATORS:
        kind = "generate_until" if skill in GENERATED else "multiple_choice"
        for level in config.skill_levels(skill) or [None]:
            out.append(TaskConfig(task=level_name(skill, level), output_type=kind,
                                  generation=GenerationConfig(until=["\n"]),
                                  dataset=GeneratorDatasetConfig(skill=skill, seed=config.seed, n=config.n, level=level)))
    out.append(TaskConfig(task="code-syntax", output_type="multiple_choice",
                          dataset=CodeSyntaxDatasetConfig(seed=config.seed, n=config.n)))
    for domain in config.text_domains:
        if domains is None or domain not in domains:
            continue
        out.append(TaskConfig(task=f"{domain}-loss", output_type="loglikelihood_rolling",
                              dataset=HeldoutTextDatasetConfig(domain=domain, n=config.text_passages,
                                                               chars=config.passage_chars,
                                                               min_chars=min(100, config.passage_chars))))
    if config.tasks is not None:
        known = {c.task for c in out} | {c.task.split("@")[0] for c in out}
        unknown = [t for t in config.tasks if t not in known]
        if unknown:
            names = builtin_task_names(config.text_domains)
            raise CurricleError(f"probe suite: unknown built-in task '{unknown[0]}' (built-in: {', '.join(names)}; "
                                f"text probes need a token store with that domain)")
        out = [c for c in out if c.task in config.tasks or c.task.split("@")[0] in config.tasks]
    return out


def builtin_tasks(config: SuiteConfig | None = None, data_dir: Path | str | None = None) -> list[ProbeTask]:
    """The built-in suite, items built. ``data_dir``: the token store for text probes."""
    config = config or SuiteConfig()
    domains = None
    if data_dir is not None:
        domains = TokenStore(Path(data_dir)).domains
    missing = [d for d in config.text_domains if domains is None or d not in domains]
    if missing:
        log.info("probe suite: no text probe for %s (%s)", ", ".join(missing),
                 "no token store given" if domains is None else "not a domain of the store")
    context = BuildContext(data_dir=Path(data_dir) if data_dir is not None else None)
    return [build_task(c, context) for c in builtin_task_configs(config, domains)]
