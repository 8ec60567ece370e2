"""Mixture controllers: one file per method; every controller's config and the registry
(``CONTROLLERS``) are in :mod:`curricle.controllers.config`.

Adding one: a ``ControllerConfig`` subclass in ``config.py`` (its ``kind`` a ``Literal``),
``controllers/<name>.py`` with a :class:`~curricle.controllers.base.Controller` subclass
implementing ``propose`` (and ``signal`` if the training loss is not its signal), and one line
in ``CONTROLLERS``. :class:`~curricle.controllers.hook.ControllerHook` puts any of them in
the training loop.
"""
