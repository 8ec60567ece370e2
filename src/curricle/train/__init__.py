"""``curricle train``: the training loop and what hangs off it."""
