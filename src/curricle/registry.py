"""What every extension registry shares: a config union told apart by ``kind``."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field


def config_union(registry: dict[str, Any]) -> Any:
    """The pydantic type of "any registered kind's config", discriminated by its ``kind`` field.

    ``registry`` maps a name to a class with a ``config_class`` whose ``kind`` is a Literal.
    """
    return Annotated[Union[tuple(cls.config_class for cls in registry.values())], Field(discriminator="kind")]
