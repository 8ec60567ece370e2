"""``mix_search:``: the offline mixture search (``curricle mix-search``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class MixSearchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    proxy_steps: int | None = Field(None, ge=1)
    """Steps of each proxy run (default: train.steps)."""
    temperature: float = Field(2.0, gt=0)
    """The draws' centre: natural tokens ** (1 / temperature), normalized (RegMix: 2, i.e. the
    square root; 1 is the natural mixture itself)."""
    strength: tuple[float, float] = (0.1, 5.0)
    """Range of the Dirichlet's strength (sum of alphas), drawn log-uniformly per mixture
    (RegMix's range): low gives sparse mixtures, high gives mixtures near the centre."""
    regressor: Literal["mixing-law", "lightgbm"] = "mixing-law"
    """The regression from mixture to loss."""
    candidates: int = Field(20000, ge=100)
    """Random mixtures scored under the fitted model."""
    top_k: int = Field(50, ge=1)
    """The proposal averages the best this many candidates."""
    min_weight: float = Field(0.01, ge=0, lt=1)
    """Floor on every domain's proposed weight (a domain that ``mixture.max_epochs`` caps
    lower is floored at its cap)."""

    @field_validator("strength")
    @classmethod
    def _range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1]:
            raise ValueError(f"expected [low, high] with 0 < low <= high, got {list(v)}")
        return v
