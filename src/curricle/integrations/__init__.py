"""curricle inside other trainers: :mod:`~curricle.integrations.hf` (HF ``Trainer``)."""
