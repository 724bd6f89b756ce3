"""Local alert routing: what on-call would receive, delivered from a laptop's jobs.

The local drift and evaluation jobs turn each run into observations
(:mod:`propensity.alerting.local_catalogue`); this module keeps each alarm's state the way
CloudWatch does (M breaching periods of the last N raise it, OK below that), and on every
state change builds the *same* :class:`~propensity.alerting.alarm.AlarmNotification` the SNS
message would carry, so the Slack and PagerDuty bodies come from the same functions as in AWS
(:func:`~propensity.alerting.slack.slack_alarm_message`,
:func:`~propensity.alerting.pagerduty.pagerduty_event`). Routes follow the tiers as the stack
wires them: critical to PagerDuty and Slack, warning to Slack, info to the digest only; the
console hears every change.

Notifiers are configured by URL, from the environment::

    PROPENSITY_ALERT_SLACK_URL      a Slack-compatible incoming webhook
    PROPENSITY_ALERT_PAGERDUTY_URL  a PagerDuty Events-v2-compatible base URL (``/v2/enqueue`` is added)
    PROPENSITY_ALERT_PAGERDUTY_KEY  its routing key (default ``local``)
    PROPENSITY_ALERT_CONSOLE        ``0`` to silence the console lines
    PROPENSITY_ALERTS_DIR           where the state and the log live (default: ``alerts/`` of the
                                    local archive, so ``.local/archive/alerts``)

State and log are files beside each other: ``state.json`` (replaced atomically) and
``log.jsonl`` (one line per state change, with what each channel did). Both are written under
an exclusive ``flock``, so two jobs finishing at once cannot lose a change or send it twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TextIO

from pydantic import BaseModel, Field

from propensity.alerting.alarm import AlarmNotification, AlarmState
from propensity.alerting.description import describe_alarm
from propensity.alerting.links import AlertLinks
from propensity.alerting.local_catalogue import LocalAlarmSpec, Observation
from propensity.alerting.pagerduty import PagerDutyNotifier
from propensity.alerting.retry import DeliveryError, RetryPolicy
from propensity.alerting.slack import SlackNotifier
from propensity.alerting.tiers import Tier

LOCAL_STAGE: Final[str] = "local"
ALARM_PREFIX: Final[str] = f"propensity-{LOCAL_STAGE}"
LOCAL_ACCOUNT: Final[str] = "local"
DEFAULT_DIR: Final[Path] = Path(".local") / "alerts"
ALERTS_SUBDIR: Final[str] = "alerts"
STATE_FILE: Final[str] = "state.json"
LOG_FILE: Final[str] = "log.jsonl"
RUNBOOK_PATH: Final[str] = "RUNBOOK.md"
# The stack routes the tiers this way (infra/constructs/alerting.py): info pages nobody.
TIER_CHANNELS: Final[dict[Tier, tuple[str, ...]]] = {
    "critical": ("pagerduty", "slack"),
    "warning": ("slack",),
    "info": (),
}
# A laptop's job should not sit for a minute on a dead webhook: fewer, shorter tries.
LOCAL_RETRY: Final[RetryPolicy] = RetryPolicy(attempts=3, base_delay_s=0.5, max_delay_s=2.0, timeout_s=5.0)


class LocalAlarmNotification(AlarmNotification):
    """An alarm state change raised by a local job: links point at local files, not a console."""

    local_link: str = ""

    @property
    def region(self) -> str:
        return LOCAL_STAGE

    @property
    def console_url(self) -> str:
        return self.local_link or "file://" + str(DEFAULT_DIR.resolve() / LOG_FILE)


class AlarmRecord(BaseModel):
    """What the state file keeps per alarm."""

    name: str
    tier: Tier
    anchor: str
    summary: str
    state: AlarmState = "OK"
    since: datetime | None = None
    reason: str = ""
    # period (ISO) -> breaching, the last N periods only
    periods: dict[str, bool] = Field(default_factory=dict)


class AlertLogEntry(BaseModel):
    """One state change and what each channel did with it (one line of ``log.jsonl``)."""

    at: datetime
    alarm: str
    tier: Tier
    old_state: AlarmState
    new_state: AlarmState
    summary: str
    reason: str
    runbook: str
    source: str
    deliveries: dict[str, str] = Field(default_factory=dict)  # channel -> "delivered" | "error: ..."


@dataclass
class LocalAlertSettings:
    """Where the local alerts go, read from the environment (see the module docstring)."""

    directory: Path = DEFAULT_DIR
    slack_url: str | None = None
    pagerduty_url: str | None = None
    pagerduty_key: str = "local"
    console: bool = True
    dashboard_url: str = ""
    runbook_url: str = ""
    retry: RetryPolicy = field(default_factory=lambda: LOCAL_RETRY)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, archive: object = None) -> LocalAlertSettings:
        """Settings from the environment; the state lives in ``$PROPENSITY_ALERTS_DIR``, else in
        ``alerts/`` of a local archive (beside the jobs' own ``drift/`` and ``evaluation/``), else
        in ``.local/alerts``."""
        e = os.environ if env is None else env
        directory = Path(e.get("PROPENSITY_ALERTS_DIR") or alerts_dir_for(archive))
        return cls(
            directory=directory,
            slack_url=e.get("PROPENSITY_ALERT_SLACK_URL") or None,
            pagerduty_url=e.get("PROPENSITY_ALERT_PAGERDUTY_URL") or None,
            pagerduty_key=e.get("PROPENSITY_ALERT_PAGERDUTY_KEY") or "local",
            console=e.get("PROPENSITY_ALERT_CONSOLE", "1") not in ("0", "false", "no"),
            dashboard_url=e.get("PROPENSITY_DASHBOARD_URL")
            or "file://" + str(Path("dashboard.html").resolve()),
            runbook_url=e.get("PROPENSITY_RUNBOOK_URL") or _default_runbook(),
        )

    @property
    def links(self) -> AlertLinks:
        return AlertLinks(dashboard_url=self.dashboard_url, runbook_url=self.runbook_url)


def _default_runbook() -> str:
    """The checkout's RUNBOOK.md (this file is ``layers/domain/propensity/alerting/local.py``)."""
    checkout = Path(__file__).resolve().parents[4] / RUNBOOK_PATH
    return "file://" + str(checkout if checkout.is_file() else Path(RUNBOOK_PATH).resolve())


def alerts_dir_for(archive: object) -> Path:
    """``<archive>/alerts`` for a local archive store or folder, else ``.local/alerts``."""
    root = getattr(archive, "root", archive)
    if isinstance(root, (str, Path)) and not str(root).startswith("s3://"):
        return Path(root) / ALERTS_SUBDIR
    return DEFAULT_DIR


def alarm_name(spec: LocalAlarmSpec) -> str:
    """The alarm's name, as the stack names it: ``<prefix>-<key>``."""
    return f"{ALARM_PREFIX}-{spec.key}"


def notification(
    spec: LocalAlarmSpec,
    *,
    old: AlarmState,
    new: AlarmState,
    reason: str,
    at: datetime,
    settings: LocalAlertSettings,
) -> LocalAlarmNotification:
    """The state change as CloudWatch would have sent it through SNS (same fields, same parser)."""
    name = alarm_name(spec)
    document = {
        "AlarmName": name,
        "AlarmDescription": describe_alarm(
            summary=spec.summary, tier=spec.tier, runbook_url=settings.runbook_url, anchor=spec.anchor
        ),
        "AWSAccountId": LOCAL_ACCOUNT,
        "AlarmArn": f"arn:local:cloudwatch:{LOCAL_STAGE}:{LOCAL_ACCOUNT}:alarm:{name}",
        "NewStateValue": new,
        "OldStateValue": old,
        "NewStateReason": reason,
        "StateChangeTime": at.astimezone(UTC).isoformat(),
        "Trigger": {
            "MetricName": spec.key.rsplit("-", 1)[0],
            "Namespace": "local job",
            "Statistic": "Maximum",
            "EvaluationPeriods": spec.evaluation_periods,
            "DatapointsToAlarm": spec.datapoints_to_alarm,
            "ComparisonOperator": spec.comparison,
            "Threshold": spec.threshold,
            "Period": spec.period_s,
            "TreatMissingData": "ignore" if spec.missing == "ignore" else "notBreaching",
        },
    }
    alarm = LocalAlarmNotification.model_validate(document)
    return alarm.model_copy(
        update={
            "topic_arn": f"local:{spec.tier}",
            "local_link": "file://" + str(settings.directory.resolve()),
        }
    )


def _next_state(record: AlarmRecord, spec: LocalAlarmSpec) -> AlarmState:
    """CloudWatch's rule: ALARM when M of the last N periods breach, else OK."""
    recent = sorted(record.periods.items())[-spec.evaluation_periods :]
    breaching = sum(1 for _, b in recent if b)
    return "ALARM" if breaching >= spec.datapoints_to_alarm else "OK"


def _apply(record: AlarmRecord, spec: LocalAlarmSpec, observation: Observation) -> bool:
    """Record one observation; True when the stored periods changed."""
    key = observation.period.astimezone(UTC).isoformat()
    if observation.breaching is None:
        if spec.missing == "ignore":
            return False
        breaching = False  # not_breaching: a period with no data counts as fine
    else:
        breaching = observation.breaching
    if record.periods.get(key) == breaching:
        return False  # the same period seen again (a re-run): nothing new
    record.periods[key] = breaching
    # Gaps count as missing periods: a drift hour with no data between two runs is fine.
    if spec.missing == "not_breaching" and spec.evaluation_periods > 1:
        latest = max(datetime.fromisoformat(p) for p in record.periods)
        horizon = latest - timedelta(hours=spec.evaluation_periods - 1)
        for hour in range(spec.evaluation_periods):
            moment = (horizon + timedelta(hours=hour)).isoformat()
            record.periods.setdefault(moment, False)
    record.periods = dict(sorted(record.periods.items())[-max(spec.evaluation_periods, 1) :])
    return True


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_state(directory: Path) -> dict[str, AlarmRecord]:
    """Every alarm the local jobs have judged, by name (empty before the first run)."""
    path = directory / STATE_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error.msg}); remove it to start over") from error
    return {name: AlarmRecord.model_validate(item) for name, item in raw.items()}


def _save_state(directory: Path, state: dict[str, AlarmRecord]) -> None:
    path = directory / STATE_FILE
    staging = path.with_name(f".{STATE_FILE}.{os.getpid()}")
    staging.write_text(json.dumps({k: v.model_dump(mode="json") for k, v in sorted(state.items())}, indent=1))
    os.replace(staging, path)  # atomic: a reader sees the old file or the new one


def read_log(
    directory: Path, start: datetime | None = None, end: datetime | None = None
) -> list[AlertLogEntry]:
    """State changes in ``[start, end)``, oldest first; a torn last line is skipped."""
    path = directory / LOG_FILE
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            entry = AlertLogEntry.model_validate_json(line)
        except ValueError:
            continue  # a line cut by a crash mid-write; the state file still holds the truth
        if (start is None or entry.at >= start) and (end is None or entry.at < end):
            entries.append(entry)
    return sorted(entries, key=lambda e: e.at)


class LocalAlertRouter:
    """Judges observations into alarm states and delivers every change to its tier's channels."""

    def __init__(self, settings: LocalAlertSettings, *, stream: TextIO | None = None) -> None:
        self.settings = settings
        self.stream = stream if stream is not None else sys.stdout
        self.slack = (
            SlackNotifier(
                webhook_url=lambda: settings.slack_url or "", links=settings.links, policy=settings.retry
            )
            if settings.slack_url
            else None
        )
        self.pagerduty = (
            PagerDutyNotifier(
                routing_key=lambda: settings.pagerduty_key,
                links=settings.links,
                source=ALARM_PREFIX,
                events_url=settings.pagerduty_url,
                policy=settings.retry,
            )
            if settings.pagerduty_url
            else None
        )

    def route(
        self, observations: list[Observation], *, source: str, now: datetime | None = None
    ) -> list[AlertLogEntry]:
        """Apply the observations in period order; deliver and log each state change."""
        moment = now or datetime.now(UTC)
        changes: list[tuple[LocalAlarmSpec, AlarmState, AlarmState, str]] = []
        with _locked(self.settings.directory):
            state = load_state(self.settings.directory)
            for observation in sorted(observations, key=lambda o: o.period):
                spec = observation.spec
                name = alarm_name(spec)
                record = state.setdefault(
                    name, AlarmRecord(name=name, tier=spec.tier, anchor=spec.anchor, summary=spec.summary)
                )
                if not _apply(record, spec, observation):
                    continue
                new = _next_state(record, spec)
                if observation.breaching:
                    record.reason = observation.reason
                if new != record.state:
                    changes.append(
                        (spec, record.state, new, record.reason if new == "ALARM" else observation.reason)
                    )
                    record.state, record.since = new, moment
            entries = [
                self._deliver(spec, old, new, reason, moment, source) for spec, old, new, reason in changes
            ]
            if entries:
                with (self.settings.directory / LOG_FILE).open("a") as handle:
                    handle.write("".join(e.model_dump_json() + "\n" for e in entries))
            _save_state(self.settings.directory, state)
        return entries

    def _deliver(
        self, spec: LocalAlarmSpec, old: AlarmState, new: AlarmState, reason: str, at: datetime, source: str
    ) -> AlertLogEntry:
        alarm = notification(spec, old=old, new=new, reason=reason, at=at, settings=self.settings)
        entry = AlertLogEntry(
            at=at,
            alarm=alarm.name,
            tier=spec.tier,
            old_state=old,
            new_state=new,
            summary=alarm.summary,
            reason=reason,
            runbook=self.settings.links.runbook_for(alarm),
            source=source,
        )
        # OK is announced only where the stack adds an OK action (info alarms have none).
        if new == "OK" and not spec.ok_action:
            entry.deliveries["console"] = "quiet (no OK action)"
            return entry
        if self.settings.console:
            verb = "resolved" if new == "OK" else new
            print(f"ALERT [{spec.tier}] {alarm.name} {verb}: {reason}", file=self.stream)
            entry.deliveries["console"] = "delivered"
        for channel in TIER_CHANNELS[spec.tier]:
            notifier: Any = self.slack if channel == "slack" else self.pagerduty
            if notifier is None:
                continue
            try:
                notifier.notify(alarm)
                entry.deliveries[channel] = "delivered"
            except DeliveryError as error:
                # Kept in the log and the digest: locally there is no dead-letter queue.
                entry.deliveries[channel] = f"error: {error}"
                print(f"alert delivery to {channel} failed: {error}", file=sys.stderr)
        return entry


def active_alarms(directory: Path) -> list[AlarmRecord]:
    """Alarms in ALARM now, most severe first."""
    order = {"critical": 0, "warning": 1, "info": 2}
    return sorted(
        (r for r in load_state(directory).values() if r.state == "ALARM"),
        key=lambda r: (order[r.tier], r.name),
    )


def route_local_alerts(
    results: list[Any],
    *,
    archive: object = None,
    settings: LocalAlertSettings | None = None,
    stream: TextIO | None = None,
) -> list[AlertLogEntry]:
    """The one call the local jobs' commands make with what they computed.

    ``results``: drift ``WindowResult``s or evaluation ``GroupResult``s (of one job run);
    ``archive``: the job's archive store or folder (the alert state lives beside its results).
    """
    from propensity.alerting.local_catalogue import drift_observations, evaluation_observations
    from propensity.drift.results import WindowResult
    from propensity.evaluation.models import GroupResult

    drift = [r for r in results if isinstance(r, WindowResult)]
    evaluation = [r for r in results if isinstance(r, GroupResult)]
    unknown = len(results) - len(drift) - len(evaluation)
    if unknown:
        raise TypeError(f"{unknown} result(s) are neither drift windows nor evaluation groups")
    router = LocalAlertRouter(settings or LocalAlertSettings.from_env(archive=archive), stream=stream)
    entries = []
    if drift:
        entries += router.route(drift_observations(drift), source="drift")
    if evaluation:
        entries += router.route(evaluation_observations(evaluation), source="evaluation")
    return entries
