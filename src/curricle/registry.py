"""Registries: a name (a config's ``kind``) to its config class, eagerly, and to its
implementation, lazily.

A family of extensions (sources, schedules, controllers, skill generators, ...) is one
:class:`Registry`, written in the family's config module as one line per kind::

    CONTROLLERS = Registry("controller", {
        "odm": (ODMConfig, "curricle.controllers.odm:ODM"),
        ...
    })
    ControllerSpec = CONTROLLERS.union()      # the pydantic type of "any controller's config"

The config classes are imported with the config module, so validating a run config needs no
implementation module (and no torch); an implementation is imported the first time it is
looked up (``CONTROLLERS["odm"]``, ``CONTROLLERS.build(config, ...)``). This module is the only
place in curricle that imports by name (:func:`load`, :func:`load_module`, which
:func:`curricle.extras.require` uses); everything else is a plain ``import``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Annotated, Any, Union

from pydantic import BaseModel, Field


def load_module(name: str) -> ModuleType:
    """The module ``name``, imported."""
    return importlib.import_module(name)


def load(ref: str) -> Any:
    """The object a ``"package.module:attribute"`` reference names (importing the module)."""
    module, _, attr = ref.partition(":")
    return getattr(load_module(module), attr)


class Registry(Mapping[str, Any]):
    """``name -> implementation`` (a mapping: ``REG[name]``, ``list(REG)``, ``REG.items()``),
    plus ``name -> config class`` for the kinds a config chooses by ``kind``.

    ``entries`` maps each name to ``"module:attribute"``, or to ``(ConfigClass,
    "module:attribute")``. Implementations are imported on first lookup and then kept.
    """

    def __init__(self, family: str, entries: dict[str, str | tuple[type[BaseModel], str]]):
        self.family = family
        self._refs: dict[str, str] = {}
        self.configs: dict[str, type[BaseModel]] = {}
        for name, entry in entries.items():
            if isinstance(entry, tuple):
                self.configs[name], self._refs[name] = entry
            else:
                self._refs[name] = entry
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._refs:
            raise KeyError(name)
        if name not in self._loaded:
            self._loaded[name] = load(self._refs[name])
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def __contains__(self, name: object) -> bool:
        return name in self._refs

    def union(self) -> Any:
        """The pydantic type of "any registered kind's config", told apart by ``kind``."""
        return Annotated[Union[tuple(self.configs.values())], Field(discriminator="kind")]

    def build(self, config: BaseModel, *args: Any, **kwargs: Any) -> Any:
        """The implementation of ``config.kind``, constructed with ``(config, *args, **kwargs)``."""
        return self[config.kind](config, *args, **kwargs)
