"""The daily digest of a local run: the same composition and text as the AWS digest.

:func:`propensity.alerting.digest.compose_digest` reads a :class:`DigestSource`; this one
answers from the local alert state and log and from the archive's events (through
:mod:`propensity.dashboard.data`, the one reader of the local files), so the local digest is
the AWS digest's code with local inputs.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Final

from propensity.alerting.description import describe_alarm
from propensity.alerting.digest import Digest, compose_digest
from propensity.alerting.digest_source import AlarmDefinition, DigestSource, StateChange
from propensity.alerting.local import LOCAL_STAGE, load_state, read_log
from propensity.alerting.signals import (
    API_LATENCY,
    API_REQUESTS,
    LAMBDA_INVOCATIONS,
    Deployment,
    MetricId,
)
from propensity.archive.store import ArchiveStore
from propensity.constants import API_VERSIONS
from propensity.service import metric_names as service_names

LOCAL_DEPLOYMENT: Final[Deployment] = Deployment(
    stage=LOCAL_STAGE,
    api_name=f"propensity-{LOCAL_STAGE}",
    api_stage=LOCAL_STAGE,
    functions={api: f"propensity-{LOCAL_STAGE}-{api}" for api in API_VERSIONS},
    tier_topics={"critical": "local:critical", "warning": "local:warning", "info": "local:info"},
)


class LocalDigestSource(DigestSource):
    """Alarms from ``.local/alerts``, figures from the archive's events of the window."""

    def __init__(self, store: ArchiveStore, alerts_dir: Path, runbook_url: str) -> None:
        self.store = store
        self.alerts_dir = alerts_dir
        self.runbook_url = runbook_url

    def alarms(self) -> list[AlarmDefinition]:
        return [
            AlarmDefinition(
                name=record.name,
                description=describe_alarm(
                    summary=record.summary,
                    tier=record.tier,
                    runbook_url=self.runbook_url,
                    anchor=record.anchor,
                ),
                actions=(LOCAL_DEPLOYMENT.tier_topics[record.tier],),
                state=record.state,
            )
            for record in load_state(self.alerts_dir).values()
        ]

    def state_changes(self, start: datetime, end: datetime) -> list[StateChange]:
        return [
            StateChange(alarm=e.alarm, at=e.at, old_state=e.old_state, new_state=e.new_state, reason=e.reason)
            for e in read_log(self.alerts_dir, start, end)
        ]

    def statistics(
        self, metrics: dict[str, MetricId], start: datetime, end: datetime
    ) -> dict[str, float | None]:
        from propensity.dashboard.data import DashboardData, gather_events

        data = DashboardData(generated_at=end, start=start, end=end, archive=str(self.store.location))
        gather_events(data, self.store)
        known: dict[tuple[str, str, str], float | None] = {}
        requests = sum(t.requests + t.synthetic_requests for t in data.traffic)
        api = LOCAL_DEPLOYMENT.api
        known[_key(api(API_REQUESTS))] = float(requests)
        # Only answered requests are archived locally: errors are not known, not zero.
        pooled = [data.latency[a]["total"] for a in data.latency]
        for stat in ("p50", "p95", "p99"):
            q = int(stat[1:])
            values = [p[q] for p in pooled]
            known[_key(api(API_LATENCY, stat))] = max(values) if values else None
        for version in API_VERSIONS:
            traffic = [t for t in data.traffic if t.api == version]
            known[_key(LOCAL_DEPLOYMENT.function(version, LAMBDA_INVOCATIONS))] = float(
                sum(t.requests + t.synthetic_requests for t in traffic)
            )
            mix = data.predictions.get(version)
            dims: dict[str, str] = {service_names.DIMENSION_API: str(version)}
            known[_key(LOCAL_DEPLOYMENT.custom(service_names.PREDICTIONS, dims))] = (
                float(mix.predictions) if mix else None
            )
            known[_key(LOCAL_DEPLOYMENT.custom(service_names.DECISION_COUNT["yes"], dims))] = (
                float(mix.yes) if mix else None
            )
            known[_key(LOCAL_DEPLOYMENT.custom(service_names.PROBABILITY_SUM, dims))] = (
                (mix.mean_probability or 0.0) * mix.predictions if mix else None
            )
        return {name: known.get(_key(metric)) for name, metric in metrics.items()}


def _key(metric: MetricId) -> tuple[str, str, str]:
    return (metric.namespace, metric.name, f"{sorted(metric.dimensions.items())}|{metric.stat}")


def local_digest(store: ArchiveStore, alerts_dir: Path, end: datetime, runbook_url: str) -> Digest:
    """The 24 hours before ``end`` of a local run, composed like the AWS digest."""
    return compose_digest(LOCAL_DEPLOYMENT, LocalDigestSource(store, alerts_dir, runbook_url), end)
