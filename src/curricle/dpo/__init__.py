"""``curricle dpo``: preference training (TRL's DPOTrainer) on pairs in a margin curriculum."""
