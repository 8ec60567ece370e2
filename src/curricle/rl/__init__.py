"""RL on verifiable rewards over TRL's ``GRPOTrainer``: graded rewards, prompt curricula
(:mod:`curricle.rl.curricula`, torch-free), the sampler, trainer and callback
(:mod:`curricle.rl.hf`) and the ``curricle rl`` verb."""
