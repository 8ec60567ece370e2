"""``curricle prepare``: the tokenizer and the per-domain token store
(:func:`~curricle.prepare.pipeline.prepare`)."""
