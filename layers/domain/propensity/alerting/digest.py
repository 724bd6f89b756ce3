"""The daily digest: what fired in the last 24 hours, and how the service did.

Info-tier alarms page nobody; this is where they are read. The digest lists every alarm of
the three tiers that fired in the window (info in full, critical and warning as a reminder),
then traffic, errors, latency, the probe, and per API version the prediction figures, with
drift figures when the drift job published any.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from propensity.alerting.description import AlarmDescription
from propensity.alerting.digest_source import AlarmDefinition, DigestSource, StateChange
from propensity.alerting.signals import (
    API_4XX,
    API_5XX,
    API_LATENCY,
    API_REQUESTS,
    LAMBDA_ERRORS,
    LAMBDA_INVOCATIONS,
    LAMBDA_THROTTLES,
    Deployment,
    MetricId,
)
from propensity.alerting.slack import escape, link
from propensity.alerting.tiers import TIERS, Tier
from propensity.constants import ApiVersion
from propensity.drift.metrics import API_DIMENSION as DRIFT_API_DIMENSION
from propensity.drift.metrics import MAX_FEATURE_PSI, MEAN_PROBABILITY, YES_RATE
from propensity.probe.metrics import PROBE_SUCCESS
from propensity.service import metric_names as service_names

WINDOW = timedelta(hours=24)
_SEVERITY = {tier: rank for rank, tier in enumerate(TIERS)}


class AlarmActivity(BaseModel):
    name: str
    tier: Tier
    summary: str
    runbook: str | None = None
    fired: int = 0
    first_fired: datetime | None = None
    last_fired: datetime | None = None
    state_now: str = ""


class ServiceFigures(BaseModel):
    requests: float | None = None
    errors_4xx: float | None = None
    errors_5xx: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    probe_runs: float | None = None
    probe_success_rate: float | None = None

    @property
    def error_rate_5xx(self) -> float | None:
        if not self.requests or self.errors_5xx is None:
            return None
        return self.errors_5xx / self.requests

    @property
    def error_rate_4xx(self) -> float | None:
        if not self.requests or self.errors_4xx is None:
            return None
        return self.errors_4xx / self.requests


class VersionFigures(BaseModel):
    api: ApiVersion
    model_version: str | None = None
    invocations: float | None = None
    function_errors: float | None = None
    throttles: float | None = None
    # From the service's own metrics: every scored record of the day.
    predictions: float | None = None
    yes_predictions: float | None = None
    probability_sum: float | None = None
    extra: dict[str, float | None] = Field(default_factory=dict)

    @property
    def yes_rate(self) -> float | None:
        if not self.predictions or self.yes_predictions is None:
            return None
        return self.yes_predictions / self.predictions

    @property
    def mean_probability(self) -> float | None:
        if not self.predictions or self.probability_sum is None:
            return None
        return self.probability_sum / self.predictions


class Digest(BaseModel):
    stage: str
    start: datetime
    end: datetime
    alarms: list[AlarmActivity]
    service: ServiceFigures
    versions: list[VersionFigures]

    def fired(self, tier: Tier) -> list[AlarmActivity]:
        return [a for a in self.alarms if a.tier == tier and (a.fired or a.state_now == "ALARM")]


def alarm_tiers(alarms: list[AlarmDefinition], tier_topics: dict[Tier, str]) -> dict[str, Tier]:
    """Each alarm wired to one of the tier topics, with the most severe tier it notifies."""
    by_topic = {arn: tier for tier, arn in tier_topics.items()}
    tiers: dict[str, Tier] = {}
    for alarm in alarms:
        found = [by_topic[action] for action in alarm.actions if action in by_topic]
        if found:
            tiers[alarm.name] = min(found, key=_SEVERITY.__getitem__)
    return tiers


def alarm_activity(
    alarms: list[AlarmDefinition], changes: list[StateChange], tier_topics: dict[Tier, str]
) -> list[AlarmActivity]:
    """Our alarms that went to ALARM in the window, or are still in ALARM, most severe first."""
    tiers = alarm_tiers(alarms, tier_topics)
    fired: dict[str, list[datetime]] = defaultdict(list)
    for change in changes:
        if change.alarm in tiers and change.new_state == "ALARM":
            fired[change.alarm].append(change.at)
    activity = []
    for alarm in alarms:
        if alarm.name not in tiers or not (fired[alarm.name] or alarm.state == "ALARM"):
            continue
        described = AlarmDescription.parse(alarm.description)
        times = sorted(fired[alarm.name])
        activity.append(
            AlarmActivity(
                name=alarm.name,
                tier=tiers[alarm.name],
                summary=described.summary or alarm.name,
                runbook=described.runbook,
                fired=len(times),
                first_fired=times[0] if times else None,
                last_fired=times[-1] if times else None,
                state_now=alarm.state,
            )
        )
    return sorted(activity, key=lambda a: (_SEVERITY[a.tier], -a.fired, a.name))


def service_metrics(deployment: Deployment) -> dict[str, MetricId]:
    """The figures of the whole API, keyed by ServiceFigures field."""
    wanted = {
        "requests": deployment.api(API_REQUESTS),
        "errors_4xx": deployment.api(API_4XX),
        "errors_5xx": deployment.api(API_5XX),
        "latency_p50_ms": deployment.api(API_LATENCY, "p50"),
        "latency_p95_ms": deployment.api(API_LATENCY, "p95"),
        "latency_p99_ms": deployment.api(API_LATENCY, "p99"),
    }
    if deployment.probe_service:
        probe = {"service": deployment.probe_service}
        wanted["probe_runs"] = deployment.custom(PROBE_SUCCESS, probe, "SampleCount")
        wanted["probe_success_rate"] = deployment.custom(PROBE_SUCCESS, probe, "Average")
    return wanted


# Drift figures (published hourly by the drift job, only for windows it judged), by label.
DRIFT_FIGURES: dict[str, tuple[str, str]] = {
    "predicted yes rate (%)": (YES_RATE, "Average"),
    "mean probability": (MEAN_PROBABILITY, "Average"),
    "max feature PSI": (MAX_FEATURE_PSI, "Maximum"),
}


def version_metrics(deployment: Deployment, api: ApiVersion) -> dict[str, MetricId]:
    """The figures of one API version, keyed by VersionFigures field (or ``extra.<label>``)."""
    wanted = {
        "invocations": deployment.function(api, LAMBDA_INVOCATIONS),
        "function_errors": deployment.function(api, LAMBDA_ERRORS),
        "throttles": deployment.function(api, LAMBDA_THROTTLES),
        "predictions": deployment.custom(service_names.PREDICTIONS, {service_names.DIMENSION_API: api}),
        "yes_predictions": deployment.custom(
            service_names.DECISION_COUNT["yes"], {service_names.DIMENSION_API: api}
        ),
        "probability_sum": deployment.custom(
            service_names.PROBABILITY_SUM, {service_names.DIMENSION_API: api}
        ),
    }
    for label, (name, stat) in DRIFT_FIGURES.items():
        wanted[f"extra.{label}"] = deployment.custom(name, {DRIFT_API_DIMENSION: api}, stat)
    return wanted


def compose_digest(deployment: Deployment, source: DigestSource, end: datetime) -> Digest:
    """Read the window ending at ``end`` (24 hours) and summarise it."""
    start = end - WINDOW
    activity = alarm_activity(source.alarms(), source.state_changes(start, end), deployment.tier_topics)
    wanted: dict[str, MetricId] = {f"service.{k}": v for k, v in service_metrics(deployment).items()}
    for api in deployment.functions:
        wanted.update({f"{api}.{k}": v for k, v in version_metrics(deployment, api).items()})
    values = source.statistics(wanted, start, end)
    service = ServiceFigures(**{k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("service.")})
    versions = []
    for api in deployment.functions:
        figures: dict[str, Any] = {
            "api": api,
            "model_version": deployment.model_versions.get(api),
            "extra": {},
        }
        for key, value in values.items():
            prefix, _, field = key.partition(".")
            if prefix != api:
                continue
            if field.startswith("extra."):
                figures["extra"][field.removeprefix("extra.")] = value
            else:
                figures[field] = value
        versions.append(VersionFigures(**figures))
    return Digest(
        stage=deployment.stage, start=start, end=end, alarms=activity, service=service, versions=versions
    )


# Rendering ---------------------------------------------------------------------------------------


def _count(value: float | None) -> str:
    return "no data" if value is None else f"{value:,.0f}"


def _ms(value: float | None) -> str:
    return "no data" if value is None else f"{value:,.0f} ms"


def _percent(value: float | None, digits: int = 2) -> str:
    return "no data" if value is None else f"{100 * value:.{digits}f}%"


def _number(value: float | None) -> str:
    return "no data" if value is None else f"{value:.3f}"


def _when(moment: datetime | None) -> str:
    return moment.strftime("%H:%M UTC") if moment else "-"


def alarm_lines(digest: Digest, tier: Tier) -> list[str]:
    lines = []
    for alarm in digest.fired(tier):
        times = f"fired {alarm.fired}x (first {_when(alarm.first_fired)}, last {_when(alarm.last_fired)})"
        if not alarm.fired:
            times = "in ALARM since before the window"
        elif alarm.state_now == "ALARM":
            times += ", still in ALARM"
        lines.append(
            f"{alarm.name}: {alarm.summary}; {times}" + (f" [{alarm.runbook}]" if alarm.runbook else "")
        )
    return lines


def service_lines(digest: Digest) -> list[str]:
    s = digest.service
    lines = [
        f"Requests: {_count(s.requests)}",
        f"5xx: {_count(s.errors_5xx)} ({_percent(s.error_rate_5xx)}); 4xx: {_count(s.errors_4xx)} "
        f"({_percent(s.error_rate_4xx)})",
        f"Latency p50 / p95 / p99: {_ms(s.latency_p50_ms)} / {_ms(s.latency_p95_ms)} / "
        f"{_ms(s.latency_p99_ms)}",
    ]
    if s.probe_runs is not None or s.probe_success_rate is not None:
        lines.append(
            f"Synthetic probe: {_count(s.probe_runs)} runs, {_percent(s.probe_success_rate, 1)} passed"
        )
    return lines


def version_lines(version: VersionFigures) -> list[str]:
    head = f"{version.api}" + (f" (model {version.model_version})" if version.model_version else "")
    parts = [
        f"invocations {_count(version.invocations)}",
        f"function errors {_count(version.function_errors)}",
        f"throttles {_count(version.throttles)}",
        f"predictions {_count(version.predictions)}",
    ]
    if version.predictions:
        parts.append(
            f"yes {_percent(version.yes_rate, 1)}, mean probability {_number(version.mean_probability)}"
        )
    # Drift figures exist only for hours the drift job judged: absent ones are left out.
    parts += [f"{name} {value:.4g}" for name, value in version.extra.items() if value is not None]
    return [f"{head}: " + ", ".join(parts)]


def digest_title(digest: Digest) -> str:
    counts = ", ".join(f"{len(digest.fired(t))} {t}" for t in TIERS)
    return f"Propensity {digest.stage} daily digest {digest.end:%Y-%m-%d}: {counts}"


def digest_text(digest: Digest, dashboard_url: str) -> str:
    """The digest as plain text (the email)."""
    lines = [
        digest_title(digest),
        f"Window: {digest.start:%Y-%m-%d %H:%M} to {digest.end:%Y-%m-%d %H:%M} UTC",
        "",
    ]
    for tier in TIERS:
        fired = alarm_lines(digest, tier)
        lines.append(f"{tier.upper()} alarms: {len(fired) or 'none'}")
        lines += [f"  - {line}" for line in fired]
    lines += ["", "Service:"] + [f"  {line}" for line in service_lines(digest)]
    lines += ["", "Per API version:"] + [f"  {line}" for v in digest.versions for line in version_lines(v)]
    lines += ["", f"Dashboard: {dashboard_url}"]
    return "\n".join(lines) + "\n"


def digest_slack_message(digest: Digest, dashboard_url: str) -> dict[str, Any]:
    """The digest as a Slack message."""

    def section(text: str) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": digest_title(digest)[:150]}},
    ]
    for tier in TIERS:
        fired = alarm_lines(digest, tier)
        body = "\n".join(f"• {escape(line)}" for line in fired) or "none"
        blocks.append(section(f"*{tier.capitalize()} alarms ({len(fired)})*\n{body}"))
    blocks.append(section("*Service*\n" + "\n".join(escape(line) for line in service_lines(digest))))
    blocks.append(
        section(
            "*Per API version*\n"
            + "\n".join(escape(line) for v in digest.versions for line in version_lines(v))
        )
    )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": link(dashboard_url, "Dashboard")}]}
    )
    return {"text": digest_title(digest), "blocks": blocks}
