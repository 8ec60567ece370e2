"""``python``: the user's own step, a function or a class imported by name.

``{kind: python, function: my_filters:drop_ads}`` calls ``drop_ads(doc)`` on each document;
``{kind: python, class: my_filters:AdFilter, args: {max_ads: 3}}`` builds ``AdFilter(max_ads=3)``
once per shard and calls its ``apply(doc)`` (and ``setup()`` / ``teardown()`` if it has them).
Either answers as a built-in step does (:mod:`.base`): ``None`` or ``True`` keeps the document
(possibly rewritten, possibly with fields written into ``doc.meta``), a
:class:`~curricle.curate.document.Drop` drops it under its reason, ``False`` drops it under
the step's name. Any other answer, or an exception, drops it under ``error`` (counted and
quarantined like every drop; the run goes on).

The function or class is imported in the launching process first (a typo is a one-line error
before any work) and again in each worker, so its module must be importable there too (on
``PYTHONPATH`` or installed; on Ray, on every node). The module's source file is part of the
run's fingerprint: editing it re-curates.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

from curricle.curate.config import PythonStepConfig
from curricle.curate.document import CurDoc, Drop
from curricle.curate.steps.base import CurationStep
from curricle.errors import CurricleError
from curricle.registry import load


def import_ref(ref: str, where: str) -> Any:
    """The object ``package.module:name`` names; a one-line error naming ``where`` if it
    cannot be imported."""
    try:
        return load(ref)
    except Exception as e:  # ModuleNotFoundError, AttributeError, an error inside the module
        raise CurricleError(f"{where}: cannot import '{ref}' ({type(e).__name__}: {e})") from None


def source_hash(obj: Any) -> str | None:
    """The sha256 of the source file defining ``obj`` (None when it has none)."""
    try:
        path = inspect.getsourcefile(obj)
    except TypeError:
        return None
    if path is None:
        return None
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class PythonStep(CurationStep):
    config: PythonStepConfig

    @classmethod
    def prepare(cls, config: PythonStepConfig, where: str) -> Any:
        field = "function" if config.function else "class"
        target = import_ref(config.ref, f"{where}.{field}")
        if config.function:
            if not callable(target):
                raise CurricleError(f"{where}.function: '{config.ref}' is not callable")
        else:
            if not inspect.isclass(target) or not callable(getattr(target, "apply", None)):
                raise CurricleError(f"{where}.class: '{config.ref}' is not a class with an apply(doc) method")
            try:
                inspect.signature(target).bind(**config.args)
            except TypeError as e:
                raise CurricleError(f"{where}.args: {config.ref}{inspect.signature(target)} does not take "
                                    f"{config.args} ({e})") from None
        return {"source": source_hash(target)}

    def setup(self) -> None:
        target = load(self.config.ref)
        if self.config.function:
            self._apply = target
            self._instance = None
        else:
            self._instance = target(**self.config.args)
            self._apply = self._instance.apply
            if callable(getattr(self._instance, "setup", None)):
                self._instance.setup()

    def teardown(self) -> None:
        if self._instance is not None and callable(getattr(self._instance, "teardown", None)):
            self._instance.teardown()

    def apply(self, doc: CurDoc) -> Drop | None:
        verdict = self._apply(doc)
        if verdict is None or verdict is True:
            return None
        if verdict is False:
            return Drop(self.name)
        if isinstance(verdict, Drop):
            return verdict
        raise TypeError(f"{self.config.ref} returned {type(verdict).__name__}; expected None, True, False "
                        f"or a Drop")
