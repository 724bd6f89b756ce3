"""Join a window's PredictionEvents with the known outcomes.

Events are de-duplicated by prediction id (Firehose delivers at least once). An event gets
its outcome by prediction id; failing that, a v2 event carrying a ``customer_ref`` gets an
outcome sent with only that reference: the outcome is attributed to the customer's latest
prediction in the window made on or before the outcome date. An explicit prediction id
always beats a customer-reference match; among several matches the rule of
``propensity.labels.outcomes`` applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from propensity.constants import ApiVersion
from propensity.evaluation.models import Window
from propensity.evaluation.windows import as_utc
from propensity.events import PredictionEvent
from propensity.labels.models import Outcome
from propensity.labels.outcomes import OutcomeBook, precedence
from propensity.segments import SEGMENT_FIELDS, SEGMENTS

GroupKey = tuple[ApiVersion, str]


@dataclass
class GroupRows:
    """One (API version, model version)'s predictions in a window, aligned arrays."""

    api_version: ApiVersion
    model_version: str
    prediction_ids: list[str]
    probability: npt.NDArray[np.float64]
    decision: npt.NDArray[np.bool_]
    threshold: npt.NDArray[np.float64]
    label: npt.NDArray[np.int8]  # 1 subscribed, 0 not, -1 no outcome yet
    segment_values: dict[str, list[Any]]  # segment family -> the raw field value per row

    @property
    def labelled(self) -> npt.NDArray[np.bool_]:
        mask: npt.NDArray[np.bool_] = self.label >= 0
        return mask


@dataclass
class JoinStats:
    events: int = 0
    duplicate_events: int = 0
    outside_window: int = 0
    labelled_by_id: int = 0
    labelled_by_customer_ref: int = 0
    matched_ids: set[str] = field(default_factory=set)
    matched_customer_outcomes: set[tuple[str, int]] = field(default_factory=set)


@dataclass
class _Row:
    """What the job keeps of one event: a few fields, not the whole event (a busy week is large)."""

    prediction_id: str
    timestamp: datetime
    customer_ref: str | None
    probability: float
    decision: bool
    threshold: float
    segment_values: tuple[Any, ...]
    outcome: Outcome | None = None
    by_customer: bool = False


def _customer_matches(rows: dict[str, _Row], book: OutcomeBook, stats: JoinStats) -> None:
    by_customer: dict[str, list[_Row]] = {}
    for row in rows.values():
        ref = row.customer_ref
        if ref is not None and ref in book.by_customer and row.outcome is None:
            by_customer.setdefault(ref, []).append(row)
    for ref, candidates in by_customer.items():
        candidates.sort(key=lambda r: (r.timestamp, r.prediction_id))
        for outcome in book.by_customer[ref]:
            eligible = [r for r in candidates if r.timestamp.date() <= outcome.outcome_date]
            if not eligible:
                continue
            target = eligible[-1]
            stats.matched_customer_outcomes.add((outcome.file_sha256, outcome.source_row))
            if target.outcome is None or precedence(outcome) > precedence(target.outcome):
                target.outcome = outcome
                target.by_customer = True


def join_window(
    events: Iterable[PredictionEvent], book: OutcomeBook, window: Window, stats: JoinStats
) -> dict[GroupKey, GroupRows]:
    """Group the window's events by (API version, model version) with their outcomes."""
    start, end = as_utc(window.start), as_utc(window.end)
    groups: dict[GroupKey, dict[str, _Row]] = {}
    seen: set[str] = set()
    for event in events:
        moment: datetime = as_utc(event.timestamp)
        if not start <= moment < end:
            stats.outside_window += 1
            continue
        if event.prediction_id in seen:
            stats.duplicate_events += 1
            continue
        seen.add(event.prediction_id)
        fields = SEGMENT_FIELDS[event.api_version]
        row = _Row(
            prediction_id=event.prediction_id,
            timestamp=moment,
            customer_ref=event.customer_ref,
            probability=event.probability,
            decision=event.decision == "yes",
            threshold=event.threshold,
            segment_values=tuple(event.features.get(fields[family]) for family in SEGMENTS),
            outcome=book.by_prediction.get(event.prediction_id),
        )
        groups.setdefault((event.api_version, event.model_version), {})[event.prediction_id] = row
    stats.events += len(seen)
    # Across groups: one customer outcome belongs to one prediction, whichever model made it.
    _customer_matches({pid: row for rows in groups.values() for pid, row in rows.items()}, book, stats)
    result = {}
    for key, rows in sorted(groups.items()):
        for row in rows.values():
            if row.outcome is None:
                continue
            if row.by_customer:
                stats.labelled_by_customer_ref += 1
            else:
                stats.labelled_by_id += 1
                stats.matched_ids.add(row.prediction_id)
        result[key] = _to_arrays(key, list(rows.values()))
    return result


def _to_arrays(key: GroupKey, members: list[_Row]) -> GroupRows:
    api_version, model_version = key
    members.sort(key=lambda r: (r.timestamp, r.prediction_id))
    return GroupRows(
        api_version=api_version,
        model_version=model_version,
        prediction_ids=[r.prediction_id for r in members],
        probability=np.array([r.probability for r in members], dtype=np.float64),
        decision=np.array([r.decision for r in members], dtype=bool),
        threshold=np.array([r.threshold for r in members], dtype=np.float64),
        label=np.array(
            [-1 if r.outcome is None else int(r.outcome.subscribed) for r in members], dtype=np.int8
        ),
        segment_values={family: [r.segment_values[i] for r in members] for i, family in enumerate(SEGMENTS)},
    )
