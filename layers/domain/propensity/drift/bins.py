"""A feature's fixed bins, taken from the bundle's reference, and counting a window into them.

Numeric features use the reference's interior edges (``numeric_bin_index``) plus a
"missing" bin (v2's nullable history field is null for customers never contacted before:
that share moving is drift too). Categorical and boolean features use the reference's
categories (``category_key``) plus an "unseen" bin for values the reference never had.
Windows arrive as counts of raw values, so each distinct value is binned once.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from propensity.features.spec import Feature
from propensity.monitoring.reference import (
    CategoricalReference,
    NumericReference,
    category_key,
    numeric_bin_index,
)

MISSING = "(missing)"
_PLAIN_NUMBERS = {int, float, type(None)}  # bool is excluded: it is not a number here
UNSEEN = "(unseen)"


def _number(value: Any) -> float | None:
    """The value as a finite number, ``None`` if it is not one (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _edge_label(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class BinnedCounts:
    """A window counted into a feature's bins, with what did not fit."""

    counts: list[int]
    invalid: int  # values of the wrong type or outside the declared range
    unseen_values: dict[str, int]  # categorical values the reference never had, by value


@dataclass(frozen=True)
class FeatureBins:
    """Labels and reference shares of one feature's bins (the last bin is "missing" or "unseen")."""

    feature: Feature
    labels: tuple[str, ...]
    reference: tuple[float, ...]
    edges: tuple[float, ...] = ()

    @classmethod
    def from_reference(
        cls, feature: Feature, reference: NumericReference | CategoricalReference
    ) -> FeatureBins:
        """The bins ``reference`` fixes for ``feature``."""
        if isinstance(reference, NumericReference):
            edges = tuple(reference.edges)
            present = 1.0 - reference.missing_share
            labels = [f"<= {_edge_label(edges[0])}"] if edges else ["all values"]
            labels += [f"({_edge_label(a)}, {_edge_label(b)}]" for a, b in pairwise(edges)]
            labels += [f"> {_edge_label(edges[-1])}"] if edges else []
            shares = [share * present for share in reference.proportions] + [reference.missing_share]
            return cls(feature, (*labels, MISSING), tuple(shares), edges)
        categories = tuple(reference.proportions)
        shares = [reference.proportions[c] for c in categories] + [0.0]
        return cls(feature, (*categories, UNSEEN), tuple(shares))

    @property
    def numeric(self) -> bool:
        return self.feature.kind == "numeric"

    def count(self, values: Mapping[Any, int]) -> BinnedCounts:
        """Count raw values (value -> occurrences) into these bins."""
        return self._count_numeric(values) if self.numeric else self._count_categorical(values)

    def _count_numeric(self, values: Mapping[Any, int]) -> BinnedCounts:
        if {type(value) for value in values} <= _PLAIN_NUMBERS:
            return self._count_plain_numbers(values)
        counts = [0] * len(self.labels)
        invalid = 0
        numbers: list[float] = []
        weights: list[int] = []
        low, high = self.feature.minimum, self.feature.maximum
        for value, occurrences in values.items():
            if value is None:
                counts[-1] += occurrences
                invalid += 0 if self.feature.nullable else occurrences
                continue
            number = _number(value)
            if number is None:
                invalid += occurrences
                continue
            if (low is not None and number < low) or (high is not None and number > high):
                invalid += occurrences
            numbers.append(number)
            weights.append(occurrences)
        if numbers:
            index = numeric_bin_index(numbers, self.edges)
            binned = np.bincount(
                index, weights=np.asarray(weights, dtype=np.float64), minlength=len(self.edges) + 1
            )
            for i, total in enumerate(binned):
                counts[i] += int(total)
        return BinnedCounts(counts, invalid, {})

    def _count_plain_numbers(self, values: Mapping[Any, int]) -> BinnedCounts:
        """``_count_numeric`` vectorised, for the usual case: only ints, floats and None."""
        counts = [0] * len(self.labels)
        missing = values.get(None, 0)
        counts[-1] += missing
        invalid = 0 if self.feature.nullable else missing
        present = [value for value in values if value is not None]
        if not present:
            return BinnedCounts(counts, invalid, {})
        numbers = np.asarray(present, dtype=np.float64)
        weights = np.fromiter((values[value] for value in present), dtype=np.float64, count=len(present))
        finite = np.isfinite(numbers)
        invalid += int(weights[~finite].sum())  # NaN or infinite: not a number here
        numbers, weights = numbers[finite], weights[finite]
        low, high = self.feature.minimum, self.feature.maximum
        outside = np.zeros(len(numbers), dtype=bool)
        if low is not None:
            outside |= numbers < low
        if high is not None:
            outside |= numbers > high
        invalid += int(weights[outside].sum())
        if len(numbers):
            index = np.searchsorted(np.asarray(self.edges, dtype=np.float64), numbers, side="left")
            binned = np.bincount(index, weights=weights, minlength=len(self.edges) + 1)
            for i, total in enumerate(binned):
                counts[i] += int(total)
        return BinnedCounts(counts, invalid, {})

    def _count_categorical(self, values: Mapping[Any, int]) -> BinnedCounts:
        position = {label: i for i, label in enumerate(self.labels[:-1])}
        counts = [0] * len(self.labels)
        unseen: Counter[str] = Counter()
        invalid = 0
        for value, occurrences in values.items():
            if self.feature.kind == "boolean" and not isinstance(value, bool):
                invalid += occurrences  # category_key would file it under "false": leave it out
                continue
            if self.feature.kind == "categorical" and not isinstance(value, str):
                invalid += occurrences
            key = category_key(self.feature, value)
            if key in position:
                counts[position[key]] += occurrences
            else:
                counts[-1] += occurrences
                # v2 keeps an unknown value as sent: "Astronaut" and "astronaut" are one value.
                unseen[key.casefold()] += occurrences
        return BinnedCounts(counts, invalid, dict(unseen))
