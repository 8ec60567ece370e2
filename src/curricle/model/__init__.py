"""Models: any HF transformers causal LM (:mod:`~curricle.model.build`), configured by
:class:`~curricle.model.config.ModelConfig`."""
