"""One seam for every HF trainer: the pieces curricle's integrations with a Hugging Face
``Trainer`` or a TRL trainer share, so a new trainer is a thin adapter rather than a fourth copy.

- :mod:`curricle.hf.snapshots`: :class:`~curricle.hf.snapshots.StepSnapshots`, a bounded ring
  of states by step for a data loader that draws ahead of the trainer (``record(step, state)``,
  ``state_at(step)``);
- :mod:`curricle.hf.callback`: :class:`~curricle.hf.callback.StatefulCallback`, a
  ``TrainerCallback`` base that owns its declared JSONL logs (cleared on a fresh run, cut back
  on resume), its metrics sinks and its stateful parts, saved in each ``checkpoint-N`` through
  the same :class:`~curricle.train.parts.Parts` registry as curricle's own loop;
- :mod:`curricle.hf.checkpoints`: the one finder of complete ``checkpoint-N`` directories.

Used by :mod:`curricle.integrations.hf` (the pretraining mixture), :mod:`curricle.finetune.hf`
and :mod:`curricle.rl.hf`. (Like every package ``__init__``, this one imports nothing.)
"""
