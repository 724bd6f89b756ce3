"""Counting a window of archived PredictionEvents: the drift job's hot path.

A busy hour is a million events, so this reads archive lines without building a pydantic
model per line. Lines written by ``PredictionEvent.model_dump_json`` (every line the
service writes) match a pattern assembled from the event model's own field order and are
taken apart with one regular expression; their feature objects are decoded in one
``json.loads`` per chunk. Any line the pattern does not match (warnings present, another
field order, damage) takes the slow path: full JSON and ``PredictionEvent`` validation,
so nothing is lost and nothing invalid is counted.

What is kept per (API version, model version) is counts only (raw value counts per feature,
decisions, confidence bands, a score histogram), so windows merge by addition and a worker
process's tally can be added to another's.
"""

from __future__ import annotations

import gc
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
from pydantic import ValidationError

from propensity.archive.reader import ReadStats, is_control_message, iter_line_chunks, split_objects
from propensity.archive.store import ArchiveStore, ObjectInfo
from propensity.constants import API_VERSIONS, EVENT_LOG_MARKER, EVENT_SCHEMA_VERSION, UNCERTAIN_MARGIN
from propensity.events import PredictionEvent
from propensity.features.schemas import SPECS
from propensity.features.v2 import FIELD_MAP
from propensity.model.confidence import margin
from propensity.monitoring.reference import SCORE_EDGES

GroupKey = tuple[str, str]  # (api_version, model_version)

_STRING = rb'"[^"\\]*"'
_NUMBER = rb"-?[0-9][0-9.eE+-]*"
# How each PredictionEvent field looks in model_dump_json output; groups capture what drift reads.
_FIELD_PATTERNS: dict[str, bytes] = {
    "event": re.escape(json.dumps(EVENT_LOG_MARKER).encode()),
    "schema_version": str(EVENT_SCHEMA_VERSION).encode(),
    "prediction_id": _STRING,
    "request_id": _STRING,
    "timestamp": _STRING,
    "api_version": rb'"([a-z0-9]+)"',
    "model_version": rb'"([^"\\]+)"',
    "consumer": rb"(?:null|" + _STRING + rb")",
    "customer_ref": rb"(?:null|" + _STRING + rb")",
    "features": rb"(\{[^{}]*\})",
    "probability": rb"(" + _NUMBER + rb")",
    "decision": rb'"(yes|no)"',
    "threshold": rb"(" + _NUMBER + rb")",
    "confidence": rb'"(low|medium|high)"',
    "warnings": rb"\[\]",  # lines with warnings take the slow path, which reads them
    "batch_size": rb"[0-9]+",
    "latency": rb"\{[^{}]*\}",
    "synthetic": rb"false",  # synthetic lines take the slow path
    "experiment": rb"(?:null|" + _STRING + rb")",
    "arm": rb"(?:null|" + _STRING + rb")",
}


def _fast_pattern() -> re.Pattern[bytes] | None:
    """The whole-line pattern in the event model's field order; ``None`` if a field is unknown here."""
    names = list(PredictionEvent.model_fields)
    if any(name not in _FIELD_PATTERNS for name in names):
        return None  # the schema grew a field this module does not know: everything takes the slow path
    body = b",".join(b'"' + name.encode() + b'":' + _FIELD_PATTERNS[name] for name in names)
    return re.compile(rb"\{" + body + rb"\}\s*\Z")


FAST_LINE = _fast_pattern()
_SCORE_EDGES = np.asarray(SCORE_EDGES, dtype=np.float64)
# A warning names a field by its flat name or its v2 request path ("customer.job").
_WARNING_FIELDS = {name: name for spec in SPECS.values() for name in spec.names} | {
    f"{m.group}.{m.v2_name}": m.flat_name for m in FIELD_MAP
}
_WARNING_FIELD = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _WARNING_FIELDS), key=len, reverse=True)) + r")\b"
)


def warning_fields(warning: str) -> set[str]:
    """The flat feature names a warning text mentions."""
    return {_WARNING_FIELDS[match] for match in _WARNING_FIELD.findall(warning)}


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

    def merge(self, other: GroupCounts) -> None:
        """Add another tally of the same group."""
        self.events += other.events
        self.yes += other.yes
        self.probability_sum += other.probability_sum
        self.uncertain += other.uncertain
        self.threshold = other.threshold if other.threshold is not None else self.threshold
        self.confidence.update(other.confidence)
        self.score_counts = [a + b for a, b in zip(self.score_counts, other.score_counts, strict=True)]
        for name, counts in other.values.items():
            self.values.setdefault(name, Counter()).update(counts)
        self.warnings.update(other.warnings)
        self.events_with_warnings += other.events_with_warnings


@dataclass
class WindowTally:
    """Everything counted in a set of archive objects."""

    groups: dict[GroupKey, GroupCounts] = field(default_factory=dict)
    stats: ReadStats = field(default_factory=ReadStats)
    objects: list[ObjectInfo] = field(default_factory=list)
    fast_lines: int = 0  # lines the whole-line pattern took apart (the rest were fully validated)

    def group(self, api_version: str, model_version: str) -> GroupCounts:
        key = (api_version, model_version)
        if key not in self.groups:
            self.groups[key] = GroupCounts(api_version, model_version)
        return self.groups[key]

    def merge(self, other: WindowTally) -> None:
        """Add another tally (e.g. a worker process's)."""
        for key, counts in other.groups.items():
            self.group(*key).merge(counts)
        self.stats.lines += other.stats.lines
        self.stats.events += other.stats.events
        self.stats.bad_lines += other.stats.bad_lines
        self.stats.examples = (self.stats.examples + other.stats.examples)[:5]
        self.objects.extend(other.objects)
        self.fast_lines += other.fast_lines

    # The hot path --------------------------------------------------------------------------

    def add_lines(self, lines: list[bytes]) -> None:
        """Count a chunk of archive lines."""
        self.stats.lines += len(lines)
        rows: list[tuple[Any, ...] | None] = []
        fast_payloads: list[bytes] = []
        fast_positions: list[int] = []
        match = FAST_LINE.match if FAST_LINE is not None else None
        for line in lines:
            found = match(line) if match is not None else None
            if found is None or found.group(1).decode() not in API_VERSIONS:
                rows.extend(self._slow_rows(line))
                continue
            api, model, features, probability, decision, threshold, confidence = found.groups()
            fast_positions.append(len(rows))
            fast_payloads.append(features)
            rows.append(
                (
                    api.decode(),
                    model.decode(),
                    None,
                    float(probability),
                    decision.decode(),
                    float(threshold),
                    confidence.decode(),
                    (),
                )
            )
        for position, features in zip(fast_positions, self._decode_features(fast_payloads), strict=True):
            row = rows[position]
            assert row is not None
            rows[position] = (row[0], row[1], features, *row[3:]) if features is not None else None
        counted = [row for row in rows if row is not None]
        self.fast_lines += len(fast_positions)
        self.stats.events += len(counted)
        self._count(counted)

    def _slow_rows(self, line: bytes) -> list[tuple[Any, ...]]:
        if is_control_message(line):
            return []
        try:
            values = split_objects(line)
        except ValueError as error:
            self.stats.reject(line, f"not JSON ({error})")
            return []
        rows = []
        for value in values:
            try:
                event = PredictionEvent.model_validate(value)
            except ValidationError as error:
                self.stats.reject(line, f"not a PredictionEvent ({error.error_count()} errors)")
                continue
            if event.schema_version > EVENT_SCHEMA_VERSION:
                self.stats.reject(line, f"unknown event schema version {event.schema_version}")
                continue
            rows.append(
                (
                    event.api_version,
                    event.model_version,
                    event.features,
                    event.probability,
                    event.decision,
                    event.threshold,
                    event.confidence,
                    tuple(event.warnings),
                )
            )
        return rows

    def _decode_features(self, payloads: list[bytes]) -> list[dict[str, Any] | None]:
        if not payloads:
            return []
        try:
            decoded: list[Any] = json.loads(b"[" + b",".join(payloads) + b"]")
            return [value if isinstance(value, dict) else None for value in decoded]
        except ValueError:
            results: list[dict[str, Any] | None] = []
            for payload in payloads:
                try:
                    value = json.loads(payload)
                except ValueError:
                    self.stats.reject(payload, "features are not JSON")
                    value = None
                results.append(value if isinstance(value, dict) else None)
            return results

    def _count(self, rows: list[tuple[Any, ...]]) -> None:
        by_group: dict[GroupKey, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_group.setdefault((row[0], row[1]), []).append(row)
        for (api, model), members in by_group.items():
            self._count_group(self.group(api, model), members)

    @staticmethod
    def _count_group(group: GroupCounts, rows: list[tuple[Any, ...]]) -> None:
        _, _, features, probability, decision, threshold, confidence, warnings = zip(*rows, strict=True)
        p = np.fromiter(probability, dtype=np.float64, count=len(rows))
        t = np.fromiter(threshold, dtype=np.float64, count=len(rows))
        group.events += len(rows)
        group.yes += decision.count("yes")
        group.probability_sum += float(p.sum())
        group.uncertain += int(np.count_nonzero(margin(p, t) < UNCERTAIN_MARGIN))  # type: ignore[arg-type]
        group.threshold = float(t[-1])
        group.confidence.update(confidence)
        # Same binning rule as the reference's score histogram (monitoring.reference.build_reference).
        scores = np.bincount(np.searchsorted(_SCORE_EDGES, p, side="left"), minlength=len(SCORE_EDGES) + 1)
        group.score_counts = [a + int(b) for a, b in zip(group.score_counts, scores, strict=True)]
        for items in warnings:
            if items:
                group.events_with_warnings += 1
                group.warnings.update(set().union(*(warning_fields(w) for w in items)))
        spec = SPECS[group.api_version]  # type: ignore[index]
        names = spec.names
        try:
            columns = list(zip(*map(itemgetter(*names), features), strict=True))
        except (KeyError, TypeError):
            columns = list(zip(*([f.get(n) for n in names] for f in features), strict=True))
        for feature, column in zip(spec.features, columns, strict=True):
            counter = group.values.setdefault(feature.name, Counter())
            if feature.kind == "numeric":
                array = np.asarray(column)
                if array.dtype.kind in "iu" or (array.dtype.kind == "f" and not np.isnan(array).any()):
                    unique, counts = np.unique(array, return_counts=True)
                    counter.update(dict(zip(unique.tolist(), counts.tolist(), strict=True)))
                    continue
            counter.update(column)


def tally_objects(store: ArchiveStore, objects: Iterable[ObjectInfo]) -> WindowTally:
    """Count every line of ``objects`` (streamed, chunk by chunk)."""
    tally = WindowTally()
    # Chunks allocate many short-lived dicts; the cyclic GC would rescan them for nothing.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for info in objects:
            for chunk in iter_line_chunks(store, info.key):
                tally.add_lines(chunk)
            tally.objects.append(info)
    finally:
        if was_enabled:
            gc.enable()
    return tally
