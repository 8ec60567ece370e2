"""Curriculum fine-tuning over TRL's ``SFTTrainer``: stages of task weights, milestones,
spaced review (Leitner queues), revisits, per-task evaluation and the forgetting matrix.

- :mod:`curricle.finetune.config`: the config (``curricle finetune CONFIG``);
- :mod:`curricle.finetune.curriculum`: the data order and the decisions (torch-free);
- :mod:`curricle.finetune.hf`: the sampler and callback for any HF ``Trainer`` / ``SFTTrainer``;
- :mod:`curricle.finetune.forgetting`, :mod:`curricle.finetune.leitner`;
  :mod:`curricle.finetune.command`: the verb. What it shares with ``rl``, ``rft`` and
  ``pipeline`` (loading the model, the held-out evaluator, checkpoints) is in
  :mod:`curricle.posttrain`.
"""
