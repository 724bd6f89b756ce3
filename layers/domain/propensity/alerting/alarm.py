"""CloudWatch alarm state changes as they arrive through SNS, parsed into one typed model.

CloudWatch publishes a JSON document per state change. Metric alarms carry a ``Trigger`` with
the metric; metric-math and anomaly-detection alarms carry ``Trigger.Metrics`` instead of a
single metric; composite alarms carry no trigger. All three are accepted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from propensity.alerting.description import AlarmDescription
from propensity.alerting.tiers import Tier, tier_from_topic_arn

AlarmState = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]

_COMPARISON_SYMBOL = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
    "LessThanLowerOrGreaterThanUpperThreshold": "outside the band",
    "LessThanLowerThreshold": "below the band",
    "GreaterThanUpperThreshold": "above the band",
}


class AlarmMessageError(ValueError):
    """An SNS message that is not a CloudWatch alarm state change."""


def _dimensions(value: Any) -> Any:
    # SNS alarm messages spell dimensions [{"name": ..., "value": ...}] (lower case),
    # the CloudWatch API [{"Name": ..., "Value": ...}]: accept both.
    if isinstance(value, list):
        return {str(d.get("name", d.get("Name"))): str(d.get("value", d.get("Value"))) for d in value}
    return value or {}


class _Lenient(BaseModel):
    # CloudWatch adds fields over time; unknown ones must not break paging.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class MetricRef(_Lenient):
    namespace: str | None = Field(default=None, alias="Namespace")
    name: str | None = Field(default=None, alias="MetricName")
    dimensions: dict[str, str] = Field(default_factory=dict, alias="Dimensions")

    @field_validator("dimensions", mode="before")
    @classmethod
    def _dimension_list(cls, value: Any) -> Any:
        return _dimensions(value)


class TriggerMetric(_Lenient):
    """One entry of ``Trigger.Metrics`` (metric math and anomaly detection alarms)."""

    id: str = Field(alias="Id")
    expression: str | None = Field(default=None, alias="Expression")
    label: str | None = Field(default=None, alias="Label")
    return_data: bool = Field(default=False, alias="ReturnData")
    metric_stat: dict[str, Any] | None = Field(default=None, alias="MetricStat")

    @property
    def metric(self) -> MetricRef | None:
        if not self.metric_stat or "Metric" not in self.metric_stat:
            return None
        return MetricRef.model_validate(self.metric_stat["Metric"])


class Trigger(_Lenient):
    metric_name: str | None = Field(default=None, alias="MetricName")
    namespace: str | None = Field(default=None, alias="Namespace")
    statistic: str | None = Field(default=None, alias="Statistic")
    extended_statistic: str | None = Field(default=None, alias="ExtendedStatistic")
    dimensions: dict[str, str] = Field(default_factory=dict, alias="Dimensions")
    period: int | None = Field(default=None, alias="Period")
    evaluation_periods: int | None = Field(default=None, alias="EvaluationPeriods")
    datapoints_to_alarm: int | None = Field(default=None, alias="DatapointsToAlarm")
    comparison: str | None = Field(default=None, alias="ComparisonOperator")
    threshold: float | None = Field(default=None, alias="Threshold")
    treat_missing_data: str | None = Field(default=None, alias="TreatMissingData")
    metrics: list[TriggerMetric] = Field(default_factory=list, alias="Metrics")

    @field_validator("dimensions", mode="before")
    @classmethod
    def _dimension_list(cls, value: Any) -> Any:
        return _dimensions(value)

    def metric_label(self) -> str:
        """A one-line name for what the alarm watches."""
        if self.metric_name:
            dims = ", ".join(f"{k}={v}" for k, v in sorted(self.dimensions.items()))
            stat = self.extended_statistic or self.statistic or ""
            return (
                f"{self.namespace}/{self.metric_name}"
                + (f" {stat.lower()}" if stat else "")
                + (f" ({dims})" if dims else "")
            )
        returned = [m for m in self.metrics if m.return_data]
        for metric in returned:
            if metric.label:
                return metric.label
            if metric.expression:
                return metric.expression
            if metric.metric and metric.metric.name:
                return f"{metric.metric.namespace}/{metric.metric.name}"
        return "composite or unknown metric"

    def threshold_label(self) -> str:
        """``> 5.0 for 5 of 5 periods of 60 s``, or what is known of it."""
        symbol = _COMPARISON_SYMBOL.get(self.comparison or "", self.comparison or "?")
        value = "" if self.threshold is None else f" {self.threshold:g}"
        windows = ""
        if self.evaluation_periods and self.period:
            points = self.datapoints_to_alarm or self.evaluation_periods
            windows = f" for {points} of {self.evaluation_periods} periods of {self.period} s"
        return f"{symbol}{value}{windows}"


class AlarmNotification(_Lenient):
    """One alarm state change, plus the tier and runbook read from its description."""

    name: str = Field(alias="AlarmName")
    description: str | None = Field(default=None, alias="AlarmDescription")
    account: str = Field(default="", alias="AWSAccountId")
    arn: str = Field(alias="AlarmArn")
    new_state: AlarmState = Field(alias="NewStateValue")
    old_state: AlarmState | None = Field(default=None, alias="OldStateValue")
    reason: str = Field(default="", alias="NewStateReason")
    changed_at: datetime = Field(alias="StateChangeTime")
    trigger: Trigger | None = Field(default=None, alias="Trigger")
    alarm_rule: str | None = Field(default=None, alias="AlarmRule")
    topic_arn: str = ""
    message_id: str = ""

    @field_validator("changed_at", mode="before")
    @classmethod
    def _cloudwatch_time(cls, value: Any) -> Any:
        # CloudWatch writes "2026-11-26T07:00:00.000+0000" (no colon in the offset).
        if isinstance(value, str) and len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
            return f"{value[:-2]}:{value[-2:]}"
        return value

    @property
    def region(self) -> str:
        """The region code, from the ARN (the message's ``Region`` is a display name)."""
        parts = self.arn.split(":")
        return parts[3] if len(parts) > 3 else ""

    @property
    def parsed_description(self) -> AlarmDescription:
        return AlarmDescription.parse(self.description)

    @property
    def tier(self) -> Tier | None:
        """The tier from the description trailer, else from the topic it came through."""
        return self.parsed_description.tier or tier_from_topic_arn(self.topic_arn)

    @property
    def summary(self) -> str:
        return self.parsed_description.summary or self.name

    @property
    def metric_label(self) -> str:
        if self.trigger is None:
            return f"composite: {self.alarm_rule}" if self.alarm_rule else "composite alarm"
        return self.trigger.metric_label()

    @property
    def threshold_label(self) -> str:
        return self.trigger.threshold_label() if self.trigger else "see the alarm rule"

    @property
    def console_url(self) -> str:
        """The alarm in the CloudWatch console."""
        region = self.region
        return (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#alarmsV2:alarm/{quote(self.name, safe='')}"
        )

    def changed_at_utc(self) -> datetime:
        return self.changed_at.astimezone(UTC)


def parse_alarm_message(message: str, *, topic_arn: str = "", message_id: str = "") -> AlarmNotification:
    """Parse one SNS ``Message`` body; :class:`AlarmMessageError` if it is not an alarm."""
    try:
        document = json.loads(message)
    except json.JSONDecodeError as error:
        raise AlarmMessageError(f"SNS message {message_id or '?'} is not JSON: {error.msg}") from error
    except (ValueError, RecursionError) as error:  # a 5000-digit number, or nesting past the limit
        raise AlarmMessageError(f"SNS message {message_id or '?'} is not readable JSON") from error
    if not isinstance(document, dict) or "AlarmName" not in document or "NewStateValue" not in document:
        raise AlarmMessageError(f"SNS message {message_id or '?'} is not a CloudWatch alarm state change")
    try:
        alarm = AlarmNotification.model_validate(document)
    except ValidationError as error:
        # Field names only: the values are whatever the sender put in the message.
        fields = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
        raise AlarmMessageError(f"alarm message {message_id or '?'} is malformed: {fields}") from error
    return alarm.model_copy(update={"topic_arn": topic_arn, "message_id": message_id})


def alarms_from_sns_event(event: dict[str, Any]) -> list[AlarmNotification]:
    """Every alarm notification in an SNS-to-Lambda event (SNS delivers one record per event)."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        raise AlarmMessageError("not an SNS event: no Records")
    alarms = []
    for record in records:
        sns = record.get("Sns") if isinstance(record, dict) else None
        if not isinstance(sns, dict) or "Message" not in sns:
            raise AlarmMessageError("not an SNS event record: no Sns.Message")
        alarms.append(
            parse_alarm_message(
                str(sns["Message"]),
                topic_arn=str(sns.get("TopicArn", "")),
                message_id=str(sns.get("MessageId", "")),
            )
        )
    return alarms
