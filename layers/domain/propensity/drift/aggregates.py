"""A window's counts, as the query engine returns them: the input of drift's maths.

Per (API version, model version): events, "yes" decisions, the sum of probabilities, the
uncertain ones, the confidence bands, the reference's score histogram, the raw value counts
of every feature and the fields that warnings name. The engine computes them in one pass
over the archive (``query.sql.drift_counts``, one scan); this module only files its rows.
Counts add up, so hours merge by addition.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from propensity.archive.hours import floor_hour
from propensity.features.schemas import SPECS
from propensity.features.v2 import FIELD_MAP
from propensity.monitoring.reference import SCORE_EDGES
from propensity.query.engine import Engine, Row
from propensity.query.schema import PARTITION_FORMAT
from propensity.query.sql import drift_counts

GroupKey = tuple[str, str]  # (api_version, model_version)

# A warning names a field by its flat name or its v2 request path ("customer.job").
_WARNING_FIELDS = {name: name for spec in SPECS.values() for name in spec.names} | {
    f"{m.group}.{m.v2_name}": m.flat_name for m in FIELD_MAP
}
_WARNING_FIELD = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _WARNING_FIELDS), key=len, reverse=True)) + r")\b"
)
_KINDS = {f.name: f.kind for spec in SPECS.values() for f in spec.features}
_SPEC_NAMES: dict[str, frozenset[str]] = {api: frozenset(spec.names) for api, spec in SPECS.items()}


def warning_fields(warning: str) -> set[str]:
    """The flat feature names a warning text mentions."""
    return {_WARNING_FIELDS[match] for match in _WARNING_FIELD.findall(warning)}


@lru_cache(maxsize=65536)  # the same values recur in every hour of a run
def feature_value(name: str, text: str | None) -> Any:
    """A value as the engine returned it (text), back as the event held it: number, bool or str."""
    if text is None:
        return None
    kind = _KINDS.get(name)
    if kind == "numeric":
        number = float(text)  # DuckDB prints 30.0, Trino 3.0E1: both parse
        return int(number) if math.isfinite(number) and number.is_integer() else number
    if kind == "boolean":
        return text.lower() == "true"
    return text


@dataclass
class GroupCounts:
    """Counts for the events of one model version of one API version."""

    api_version: str
    model_version: str
    events: int = 0
    yes: int = 0
    probability_sum: float = 0.0
    uncertain: int = 0
    threshold: float | None = None
    confidence: Counter[str] = field(default_factory=Counter)
    score_counts: list[int] = field(default_factory=lambda: [0] * (len(SCORE_EDGES) + 1))
    values: dict[str, Counter[Any]] = field(default_factory=dict)
    warnings: Counter[str] = field(default_factory=Counter)  # field -> events whose warnings name it
    events_with_warnings: int = 0

    def add_prediction_row(self, row: Row) -> None:
        """A row of ``drift_counts``' prediction set (decision, band, score bin, warnings)."""
        events = int(row["events"])
        self.events += events
        self.yes += events if row["decision"] == "yes" else 0
        self.probability_sum += float(row["probability_sum"] or 0.0)
        self.uncertain += events if row["uncertain"] else 0
        self.threshold = float(row["threshold"])
        self.confidence[str(row["confidence"])] += events
        self.score_counts[int(row["score_bin"])] += events
        text = row.get("warnings_text")
        if text:
            self.events_with_warnings += events
            for name in set().union(*(warning_fields(w) for w in str(text).split("\n"))):
                self.warnings[name] += events

    def add_value_row(self, name: str, row: Row) -> None:
        """A row of one feature's set: how often that raw value occurred (NULL: missing)."""
        if name not in _SPEC_NAMES[self.api_version]:
            return  # the other API version's feature: one all-NULL row per group
        values = self.values.setdefault(name, Counter())
        values[feature_value(name, row["value"])] += int(row["events"])


@dataclass
class HourCounts:
    """Everything counted in one archive hour: per group, plus synthetic and bad rows."""

    start: datetime
    groups: dict[GroupKey, GroupCounts] = field(default_factory=dict)
    lines: int = 0
    bad_lines: int = 0
    synthetic: Counter[str] = field(default_factory=Counter)  # API version -> probe/hook events

    @property
    def events(self) -> int:
        return sum(g.events for g in self.groups.values())

    def group(self, api_version: str, model_version: str) -> GroupCounts:
        key = (api_version, model_version)
        if key not in self.groups:
            self.groups[key] = GroupCounts(api_version, model_version)
        return self.groups[key]


@lru_cache(maxsize=4096)
def _hour_of(dt: str) -> datetime:
    return floor_hour(datetime.strptime(dt, PARTITION_FORMAT))


def count_hours(engine: Engine, hours: Sequence[datetime]) -> dict[datetime, HourCounts]:
    """One query over the given hours (one scan), filed per hour and group."""
    starts = sorted(set(map(floor_hour, hours)))
    counted = {start: HourCounts(start) for start in starts}
    if not starts:
        return counted
    for row in engine.run(drift_counts(starts)):
        hour = counted.get(_hour_of(str(row["dt"])))
        if hour is None:
            continue
        feature = row["feature"]
        if feature is not None:  # a feature's value counts: real events only
            if row["kind"] == "event":
                hour.group(str(row["api_version"]), str(row["model_version"])).add_value_row(feature, row)
            continue
        events = int(row["events"])
        hour.lines += events
        if row["kind"] == "bad":
            hour.bad_lines += events
        elif row["kind"] == "synthetic":
            hour.synthetic[str(row["api_version"])] += events
        else:
            hour.group(str(row["api_version"]), str(row["model_version"])).add_prediction_row(row)
    return counted


def merge_counts(items: Iterable[HourCounts], start: datetime) -> HourCounts:
    """Several hours added up (a benchmark's or a test's single window)."""
    total = HourCounts(start)
    for item in items:
        total.lines += item.lines
        total.bad_lines += item.bad_lines
        total.synthetic.update(item.synthetic)
        for (api, model), counts in item.groups.items():
            into = total.group(api, model)
            into.events += counts.events
            into.yes += counts.yes
            into.probability_sum += counts.probability_sum
            into.uncertain += counts.uncertain
            into.threshold = counts.threshold if counts.threshold is not None else into.threshold
            into.confidence.update(counts.confidence)
            into.score_counts = [a + b for a, b in zip(into.score_counts, counts.score_counts, strict=True)]
            for name, values in counts.values.items():
                into.values.setdefault(name, Counter()).update(values)
            into.warnings.update(counts.warnings)
            into.events_with_warnings += counts.events_with_warnings
    return total
