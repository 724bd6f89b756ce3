"""Everything the monitoring page shows, gathered in one place from the local files.

Sources (all under one archive location, as the local server and the jobs lay them out):

    predictions/YYYY/MM/DD/HH/*.gz     PredictionEvents: traffic, latency, prediction mix, v1 callers
    drift/windows/YYYY/MM/DD/HH.json   the drift job's hourly results: PSI per feature
    evaluation/results/...             the evaluation job's weekly results
    shadow/results/...                 the shadow scorer's records: champion/challenger agreement
    .local/alerts/                     the local alert state and log (``propensity.alerting.local``)

This is the only module of the page that reads storage: when the jobs move onto a query
engine, only these functions change; the page renders :class:`DashboardData`.
"""

from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np

from propensity.alerting.local import AlarmRecord, AlertLogEntry, active_alarms, read_log
from propensity.archive.hours import floor_hour, hours_between
from propensity.archive.reader import ReadStats, iter_object_events, window_objects
from propensity.archive.store import ArchiveStore
from propensity.constants import API_VERSIONS, ApiVersion
from propensity.events import PredictionEvent

PHASES: Final[tuple[str, ...]] = ("validation", "preprocessing", "inference", "serialization", "total")
QUANTILES: Final[tuple[int, ...]] = (50, 95, 99)
ANONYMOUS: Final[str] = "(no API key)"


@dataclass(frozen=True)
class HourTraffic:
    hour: datetime
    api: ApiVersion
    requests: int  # distinct requests answered (a batch is one request)
    predictions: int  # scored rows
    synthetic_requests: int  # probe and hook traffic, kept out of the model figures


@dataclass(frozen=True)
class PredictionMix:
    predictions: int
    yes: int
    mean_probability: float | None
    confidence: dict[str, int]
    # hour -> mean probability, for the trend line
    hourly_mean: dict[datetime, float]

    @property
    def yes_rate(self) -> float | None:
        return self.yes / self.predictions if self.predictions else None


@dataclass(frozen=True)
class PsiGrid:
    """PSI per feature (rows) and hour (columns); None where the hour was not judged."""

    hours: list[datetime]
    features: list[str]
    values: list[list[float | None]]
    model_versions: list[str]


@dataclass(frozen=True)
class EvaluationPoint:
    api: ApiVersion
    model_version: str
    window: str
    start: datetime
    end: datetime
    labelled: int
    coverage: float
    thin: bool
    f1: float | None
    f1_estimated: float | None
    conversion: float | None
    ece: float | None


@dataclass(frozen=True)
class ShadowPoint:
    api: ApiVersion
    day: date
    champion: str
    challenger: str
    rows: int
    agreement: float
    mean_difference: float


@dataclass(frozen=True)
class ConsumerUsage:
    consumer: str
    calls_by_day: dict[date, int]
    last_seen: datetime
    share: float

    @property
    def calls(self) -> int:
        return sum(self.calls_by_day.values())


@dataclass
class DashboardData:
    """The page's figures for the window ``[start, end)`` (evaluation: all stored weeks)."""

    generated_at: datetime
    start: datetime
    end: datetime
    archive: str
    traffic: list[HourTraffic] = field(default_factory=list)
    status_codes: dict[ApiVersion, dict[str, int]] = field(default_factory=dict)
    unreadable_lines: int = 0
    unreadable_objects: list[str] = field(default_factory=list)
    latency: dict[ApiVersion, dict[str, dict[int, float]]] = field(default_factory=dict)
    predictions: dict[ApiVersion, PredictionMix] = field(default_factory=dict)
    psi: dict[ApiVersion, PsiGrid] = field(default_factory=dict)
    evaluation: list[EvaluationPoint] = field(default_factory=list)
    shadow: list[ShadowPoint] = field(default_factory=list)
    v1_usage: list[ConsumerUsage] = field(default_factory=list)
    active_alerts: list[AlarmRecord] = field(default_factory=list)
    recent_alerts: list[AlertLogEntry] = field(default_factory=list)

    def total_requests(self, api: ApiVersion | None = None) -> int:
        return sum(t.requests for t in self.traffic if api is None or t.api == api)


# Archive events --------------------------------------------------------------------------------


def _phase_ms(event: PredictionEvent) -> dict[str, float]:
    latency = event.latency
    phases = {
        "validation": latency.validation_ms,
        "preprocessing": latency.preprocessing_ms,
        "inference": latency.inference_ms,
        "serialization": latency.serialization_ms,
    }
    phases["total"] = sum(phases.values())
    return phases


@dataclass
class _Tally:
    requests: dict[tuple[datetime, ApiVersion], set[str]] = field(default_factory=lambda: defaultdict(set))
    synthetic: dict[tuple[datetime, ApiVersion], set[str]] = field(default_factory=lambda: defaultdict(set))
    rows: Counter[tuple[datetime, ApiVersion]] = field(default_factory=Counter)
    latency: dict[ApiVersion, dict[str, list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    seen_requests: set[tuple[ApiVersion, str]] = field(default_factory=set)
    yes: Counter[ApiVersion] = field(default_factory=Counter)
    scored: Counter[ApiVersion] = field(default_factory=Counter)
    probability: dict[ApiVersion, float] = field(default_factory=lambda: defaultdict(float))
    confidence: dict[ApiVersion, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    hourly_probability: dict[tuple[ApiVersion, datetime], list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0.0, 0.0])
    )
    consumers: dict[str, Counter[date]] = field(default_factory=lambda: defaultdict(Counter))
    last_seen: dict[str, datetime] = field(default_factory=dict)
    v1_requests: set[str] = field(default_factory=set)

    def add(self, event: PredictionEvent) -> None:
        hour = floor_hour(event.timestamp)
        api = event.api_version
        key = (hour, api)
        if event.synthetic:
            self.synthetic[key].add(event.request_id)
            return
        self.requests[key].add(event.request_id)
        self.rows[key] += 1
        # A batch's events share one request's latency: count each request once.
        if (api, event.request_id) not in self.seen_requests:
            self.seen_requests.add((api, event.request_id))
            for phase, ms in _phase_ms(event).items():
                self.latency[api][phase].append(ms)
            if api == "v1":
                consumer = event.consumer or ANONYMOUS
                self.consumers[consumer][event.timestamp.astimezone(UTC).date()] += 1
                seen = self.last_seen.get(consumer)
                self.last_seen[consumer] = max(seen, event.timestamp) if seen else event.timestamp
        self.scored[api] += 1
        self.yes[api] += event.decision == "yes"
        self.probability[api] += event.probability
        self.confidence[api][event.confidence] += 1
        slot = self.hourly_probability[(api, hour)]
        slot[0] += event.probability
        slot[1] += 1


def _percentiles(values: list[float]) -> dict[int, float]:
    array = np.asarray(values, dtype=float)
    return {q: float(np.percentile(array, q)) for q in QUANTILES}


def gather_events(data: DashboardData, store: ArchiveStore) -> None:
    """Traffic, latency, prediction mix and v1 callers from the archived events of the window."""
    stats = ReadStats()
    tally = _Tally()
    for info in window_objects(store, data.start, data.end):
        try:
            for event in iter_object_events(store, info.key, stats):
                if data.start <= event.timestamp < data.end:
                    tally.add(event)
        except (EOFError, OSError, zlib.error) as error:
            # A torn or corrupt object (a crash mid-write, a flipped byte): the events read
            # before the damage count, the object is named on the page, the page still renders.
            data.unreadable_objects.append(f"{info.key}: {type(error).__name__}")
    data.unreadable_lines = stats.bad_lines
    keys = sorted(set(tally.requests) | set(tally.synthetic))
    data.traffic = [
        HourTraffic(
            hour,
            api,
            len(tally.requests[(hour, api)]),
            tally.rows[(hour, api)],
            len(tally.synthetic[(hour, api)]),
        )
        for hour, api in keys
    ]
    for api in API_VERSIONS:
        answered = sum(t.requests + t.synthetic_requests for t in data.traffic if t.api == api)
        if answered:
            # Only answered requests are archived today: every archived request was a 200.
            data.status_codes[api] = {"200": answered}
        if tally.latency.get(api):
            data.latency[api] = {phase: _percentiles(v) for phase, v in tally.latency[api].items()}
        if tally.scored[api]:
            data.predictions[api] = PredictionMix(
                predictions=tally.scored[api],
                yes=tally.yes[api],
                mean_probability=tally.probability[api] / tally.scored[api],
                confidence=dict(tally.confidence[api]),
                hourly_mean={
                    hour: total / n
                    for (a, hour), (total, n) in sorted(tally.hourly_probability.items())
                    if a == api
                },
            )
    total = sum(sum(days.values()) for days in tally.consumers.values())
    data.v1_usage = sorted(
        (
            ConsumerUsage(name, dict(sorted(days.items())), tally.last_seen[name], sum(days.values()) / total)
            for name, days in tally.consumers.items()
        ),
        key=lambda u: (-u.calls, u.consumer),
    )


# Job results -----------------------------------------------------------------------------------


def gather_drift(data: DashboardData, store: ArchiveStore) -> None:
    """PSI per feature and hour from the drift job's stored hourly results."""
    from propensity.drift.state import DriftState

    state = DriftState(store)
    hours = hours_between(
        floor_hour(data.start), floor_hour(data.end - timedelta(microseconds=1)) + timedelta(hours=1)
    )
    by_api: dict[ApiVersion, dict[datetime, dict[str, float | None]]] = defaultdict(dict)
    versions: dict[ApiVersion, set[str]] = defaultdict(set)
    features: dict[ApiVersion, list[str]] = {}
    for hour in hours:
        result = state.load_window(hour)
        if result is None:
            continue
        for api in API_VERSIONS:
            groups = [g for g in result.groups if g.api_version == api]
            if not groups:
                continue
            # Two model versions in one hour (a promotion): show the busier one's PSI.
            group = max(groups, key=lambda g: g.events)
            versions[api].add(group.model_version)
            features.setdefault(api, [f.name for f in group.features])
            by_api[api][hour] = {f.name: (f.psi if group.judged else None) for f in group.features}
    for api, cells in by_api.items():
        columns = sorted(cells)
        names = features[api]
        data.psi[api] = PsiGrid(
            hours=columns,
            features=names,
            values=[[cells[h].get(name) for h in columns] for name in names],
            model_versions=sorted(versions[api]),
        )


def gather_evaluation(data: DashboardData, store: ArchiveStore) -> None:
    """Every stored evaluation window (the page shows the weeks as a trend)."""
    from propensity.evaluation.results import ResultStore

    for r in ResultStore(store).all_history():
        data.evaluation.append(
            EvaluationPoint(
                api=r.api_version,
                model_version=r.model_version,
                window=r.window.label,
                start=r.window.start,
                end=r.window.end,
                labelled=r.coverage.labelled,
                coverage=r.coverage.share,
                thin=r.coverage.thin,
                f1=r.realised.f1 if r.realised else None,
                f1_estimated=r.estimated.f1,
                conversion=r.business.conversion_rate if r.business else None,
                ece=r.realised.ece if r.realised else None,
            )
        )


def gather_shadow(data: DashboardData, store: ArchiveStore, days: int = 7) -> None:
    """Champion/challenger agreement per day over the last ``days`` days of shadow records."""
    from propensity.shadow.report import shadow_report

    last = data.end.astimezone(UTC).date()
    for offset in range(days - 1, -1, -1):
        day = last - timedelta(days=offset)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        for api in API_VERSIONS:
            report = shadow_report(store, api, start, min(start + timedelta(days=1), data.end))
            for pair in report.pairs:
                data.shadow.append(
                    ShadowPoint(
                        api,
                        day,
                        pair.champion_version,
                        pair.challenger_version,
                        pair.rows,
                        pair.agreement_rate,
                        pair.mean_difference,
                    )
                )


def gather_alerts(data: DashboardData, alerts_dir: Path) -> None:
    data.active_alerts = active_alarms(alerts_dir)
    data.recent_alerts = read_log(alerts_dir, data.end - timedelta(hours=24), data.end + timedelta(seconds=1))


def gather(
    store: ArchiveStore, alerts_dir: Path, *, end: datetime | None = None, hours: int = 24
) -> DashboardData:
    """All the page's figures for the ``hours`` before ``end`` (default: the current hour's end)."""
    now = datetime.now(UTC)
    stop = end or floor_hour(now) + timedelta(hours=1)
    data = DashboardData(
        generated_at=now, start=stop - timedelta(hours=hours), end=stop, archive=str(store.location)
    )
    gather_events(data, store)
    gather_drift(data, store)
    gather_evaluation(data, store)
    gather_shadow(data, store)
    gather_alerts(data, alerts_dir)
    return data
