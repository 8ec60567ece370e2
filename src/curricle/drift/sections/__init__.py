"""Drift sections, one file each (the contract: :class:`~curricle.drift.sections.base.Section`),
registered by name in :data:`curricle.drift.config.SECTIONS`."""
