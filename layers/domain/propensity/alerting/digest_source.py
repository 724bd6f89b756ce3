"""Where the digest reads from (alarm definitions, alarm history, metric statistics) and
where its e-mail goes.

One interface each; CloudWatch and SNS implement them in AWS (and under moto in tests). The
digest's logic never sees boto3.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from propensity.alerting.signals import MetricId

# GetMetricData accepts up to 500 queries per call.
MAX_QUERIES = 500
# SNS: subjects up to 100 characters, messages up to 256 KB.
MAX_SUBJECT = 100
MAX_MESSAGE_BYTES = 256 * 1024


@dataclass(frozen=True)
class AlarmDefinition:
    name: str
    description: str
    actions: tuple[str, ...]
    state: str


@dataclass(frozen=True)
class StateChange:
    alarm: str
    at: datetime
    old_state: str
    new_state: str
    reason: str


class DigestSource(ABC):
    @abstractmethod
    def alarms(self) -> list[AlarmDefinition]:
        """Every metric and composite alarm of the account and region."""

    @abstractmethod
    def state_changes(self, start: datetime, end: datetime) -> list[StateChange]:
        """Alarm state changes between ``start`` and ``end``, oldest first."""

    @abstractmethod
    def statistics(
        self, metrics: dict[str, MetricId], start: datetime, end: datetime
    ) -> dict[str, float | None]:
        """One value per metric over the whole window (None when there was no data)."""


def _combine(stat: str, values: list[float]) -> float | None:
    """Several datapoints for one window (an unaligned window): add counts, keep extremes."""
    if not values:
        return None
    if stat in ("Sum", "SampleCount"):
        return float(sum(values))
    if stat == "Maximum":
        return max(values)
    if stat == "Minimum":
        return min(values)
    return values[0]


class CloudWatchDigestSource(DigestSource):
    def __init__(self, client: Any) -> None:
        self._client = client

    def alarms(self) -> list[AlarmDefinition]:
        found = []
        for page in self._client.get_paginator("describe_alarms").paginate(
            AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        ):
            for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                found.append(
                    AlarmDefinition(
                        name=alarm["AlarmName"],
                        description=alarm.get("AlarmDescription") or "",
                        actions=tuple(alarm.get("AlarmActions") or ()),
                        state=alarm.get("StateValue", ""),
                    )
                )
        return found

    def state_changes(self, start: datetime, end: datetime) -> list[StateChange]:
        changes = []
        for page in self._client.get_paginator("describe_alarm_history").paginate(
            HistoryItemType="StateUpdate",
            StartDate=start,
            EndDate=end,
            ScanBy="TimestampAscending",
            AlarmTypes=["MetricAlarm", "CompositeAlarm"],
        ):
            for item in page.get("AlarmHistoryItems", []):
                try:
                    data = json.loads(item.get("HistoryData") or "{}")
                except json.JSONDecodeError:
                    data = {}
                changes.append(
                    StateChange(
                        alarm=item["AlarmName"],
                        at=item["Timestamp"],
                        old_state=str(data.get("oldState", {}).get("stateValue", "")),
                        new_state=str(data.get("newState", {}).get("stateValue", "")),
                        reason=str(
                            data.get("newState", {}).get("stateReason", item.get("HistorySummary", ""))
                        ),
                    )
                )
        return sorted(changes, key=lambda c: c.at)

    def statistics(
        self, metrics: dict[str, MetricId], start: datetime, end: datetime
    ) -> dict[str, float | None]:
        period = max(60, int((end - start).total_seconds()) // 60 * 60)
        values: dict[str, list[float]] = {key: [] for key in metrics}
        items = list(metrics.items())
        for offset in range(0, len(items), MAX_QUERIES):
            queries = [
                {
                    "Id": f"m{offset + i}",
                    "Label": key,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": metric.namespace,
                            "MetricName": metric.name,
                            "Dimensions": [
                                {"Name": k, "Value": v} for k, v in sorted(metric.dimensions.items())
                            ],
                        },
                        "Period": period,
                        "Stat": metric.stat,
                    },
                    "ReturnData": True,
                }
                for i, (key, metric) in enumerate(items[offset : offset + MAX_QUERIES])
            ]
            by_id = {q["Id"]: q["Label"] for q in queries}
            for page in self._client.get_paginator("get_metric_data").paginate(
                MetricDataQueries=queries, StartTime=start, EndTime=end
            ):
                for result in page.get("MetricDataResults", []):
                    key = str(by_id[result["Id"]])
                    values[key].extend(float(v) for v in result.get("Values", []) if v is not None)
        return {key: _combine(metrics[key].stat, found) for key, found in values.items()}


class EmailPublisher(ABC):
    @abstractmethod
    def publish(self, subject: str, text: str) -> None:
        """Send ``text`` to the digest's e-mail subscribers."""


class SnsEmailPublisher(EmailPublisher):
    """An SNS topic with e-mail subscriptions."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def publish(self, subject: str, text: str) -> None:
        message = text.encode()[:MAX_MESSAGE_BYTES].decode(errors="ignore")
        self._client.publish(TopicArn=self.topic_arn, Subject=subject[:MAX_SUBJECT], Message=message)
