"""Tasks for fine-tuning and RL: items ``{prompt, completion | messages, meta}`` with a skill,
a difficulty, and train / held-out / test splits (configs in :mod:`curricle.tasks.config`,
loading in :mod:`curricle.tasks.load`)."""
