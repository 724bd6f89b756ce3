"""A small, generic description of a model's flat input record.

Request models, preprocessing, drift references and PSI all read the same ``FeatureSpec``,
so a field is declared once per schema version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FeatureKind = Literal["numeric", "categorical", "boolean"]


@dataclass(frozen=True)
class Feature:
    """One input field as the model sees it (after request normalisation)."""

    name: str
    kind: FeatureKind
    description: str
    categories: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    nullable: bool = False


@dataclass(frozen=True)
class FeatureSpec:
    """The ordered flat input record of one API schema version."""

    schema_version: str
    features: tuple[Feature, ...]
    _by_name: dict[str, Feature] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.features})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def __getitem__(self, name: str) -> Feature:
        return self._by_name[name]

    def of_kind(self, kind: FeatureKind) -> tuple[Feature, ...]:
        return tuple(f for f in self.features if f.kind == kind)
