"""One probe item: a prompt, the right continuation, and (optionally) wrong ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from curricle.errors import CurricleError


@dataclass(frozen=True)
class ProbeItem:
    """An item of a probe task.

    ``target`` is scored as the continuation of ``prompt`` (so a leading space, where there
    is one, belongs to ``target``); ``distractors`` are wrong continuations of the same
    prompt. A text probe (``loglikelihood_rolling``) has an empty prompt and the passage as
    ``target``.
    """

    id: str
    prompt: str
    target: str
    distractors: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """``prompt + target``: what would be in a training document if the item leaked."""
        return self.prompt + self.target

    @property
    def choices(self) -> tuple[str, ...]:
        """The target first, then the distractors (the order lm-eval exports use)."""
        return (self.target, *self.distractors)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "prompt": self.prompt, "target": self.target}
        if self.distractors:
            out["distractors"] = list(self.distractors)
        return out

    @classmethod
    def from_dict(cls, record: Any, where: str) -> "ProbeItem":
        """Validate one record (``id`` optional, ``prompt`` and ``target`` strings,
        ``distractors`` a list of strings); errors name ``where``."""
        if not isinstance(record, dict):
            raise CurricleError(f"{where}: expected a mapping with 'prompt' and 'target', got {type(record).__name__}")
        unknown = set(record) - {"id", "prompt", "target", "distractors"}
        if unknown:
            raise CurricleError(f"{where}: unknown key '{sorted(unknown)[0]}' "
                                f"(expected id, prompt, target, distractors)")
        prompt, target = record.get("prompt", ""), record.get("target")
        if not isinstance(prompt, str) or not isinstance(target, str) or not target:
            raise CurricleError(f"{where}: 'prompt' must be a string and 'target' a non-empty string")
        distractors = record.get("distractors", [])
        if not isinstance(distractors, list) or not all(isinstance(d, str) and d for d in distractors):
            raise CurricleError(f"{where}: 'distractors' must be a list of non-empty strings")
        if target in distractors or len(set(distractors)) != len(distractors):
            raise CurricleError(f"{where}: distractors must differ from the target and from each other")
        return cls(str(record.get("id", where)), prompt, target, tuple(distractors))
