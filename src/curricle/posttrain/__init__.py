"""The post-training foundation that ``finetune``, ``rl``, ``rft`` and ``pipeline`` share.

- :mod:`curricle.posttrain.config`: the model section (:class:`HFModelConfig`), the probes
  scored beside the tasks, the shared knobs (``train.checkpoint: {every, keep_last}``,
  ``train.trace``; :class:`TrainSettings`: ``train.use_cpu``, ``train.tf32``) and the refused
  old spellings;
- :mod:`curricle.posttrain.checkpoints`: loading a checkpoint, saving the final model, the
  complete ``checkpoint-N`` directories of a run;
- :mod:`curricle.posttrain.evaluate`: the held-out evaluator (per-task scores through the
  probes' scorers) and the probe tasks it scores beside them;
- :mod:`curricle.posttrain.ranks`: which process this is.
"""
