"""Announce a CodeDeploy rollback: deployment failed or stopped -> one alert on the stage's tier topic.

EventBridge delivers CodeDeploy's "Deployment State-change Notification" (FAILURE or STOP); the
event names only the application, group and deployment id. This module asks CodeDeploy for the
rest (the Lambda versions from the deployment's AppSpec, the error, the group's rollback alarms)
and CloudWatch which of those alarms is in ALARM, and publishes one message shaped like a
CloudWatch alarm notification, so the existing notifiers (PagerDuty, Slack, the digest) route it
by its tier without a new message format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from propensity.alerting.description import describe_alarm
from propensity.alerting.tiers import Tier

NOTICE_STATES = ("FAILURE", "STOP")
RUNBOOK_ANCHOR = "deployment-rolled-back"


class DeploymentLookup(Protocol):
    def deployment(self, deployment_id: str) -> dict[str, Any]:
        """``codedeploy:GetDeployment``'s ``deploymentInfo``."""

    def group_alarms(self, application: str, group: str) -> list[str]:
        """The deployment group's rollback alarm names."""

    def alarms_in_alarm(self, names: list[str]) -> list[str]:
        """Those of ``names`` currently in ALARM."""


@dataclass(frozen=True)
class DeploymentNotice:
    """What on-call needs: which deployment, from which version to which, and why it stopped."""

    deployment_id: str
    application: str
    group: str
    state: str
    region: str
    account: str
    current_version: str | None  # the Lambda version serving before (what it rolls back to)
    target_version: str | None  # the version being deployed
    alarms: list[str]
    error: str

    def reason(self) -> str:
        fired = ", ".join(self.alarms) or "none in ALARM now"
        return (
            f"CodeDeploy deployment {self.deployment_id} of {self.application} ({self.group}) ended in "
            f"{self.state}: Lambda version {self.target_version or '?'} rolled back to "
            f"{self.current_version or '?'}; alarms: {fired}; error: {self.error or 'none given'}"
        )

    def message(self, *, tier: Tier, runbook_url: str, at: datetime | None = None) -> dict[str, Any]:
        """A CloudWatch-alarm-shaped notification the notifiers already understand."""
        name = f"{self.group}-rolled-back"
        return {
            "AlarmName": name,
            "AlarmDescription": describe_alarm(
                summary=f"A deployment of {self.application} was rolled back ({self.state})",
                tier=tier,
                runbook_url=runbook_url,
                anchor=RUNBOOK_ANCHOR,
            ),
            "AWSAccountId": self.account,
            "AlarmArn": f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm:{name}",
            "NewStateValue": "ALARM",
            "OldStateValue": "OK",
            "NewStateReason": self.reason(),
            "StateChangeTime": (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "Deployment": {
                "id": self.deployment_id,
                "currentVersion": self.current_version,
                "targetVersion": self.target_version,
                "alarms": self.alarms,
            },
        }


def _versions(info: dict[str, Any]) -> tuple[str | None, str | None]:
    """CurrentVersion and TargetVersion from a Lambda deployment's AppSpec (JSON or YAML-ish text)."""
    content = str(((info.get("revision") or {}).get("appSpecContent") or {}).get("content") or "")
    try:
        spec = json.loads(content)
    except ValueError:
        found = {}
        for line in content.splitlines():
            key, _, value = line.strip().partition(":")
            if key in ("CurrentVersion", "TargetVersion"):
                found[key] = value.strip().strip("\"'")
        return found.get("CurrentVersion"), found.get("TargetVersion")
    for resource in spec.get("Resources", []):
        for item in resource.values():
            properties = item.get("Properties", {}) if isinstance(item, dict) else {}
            if "TargetVersion" in properties:
                current, target = properties.get("CurrentVersion"), properties.get("TargetVersion")
                return (str(current) if current is not None else None, str(target) if target else None)
    return None, None


def notice_from_event(event: dict[str, Any], lookup: DeploymentLookup) -> DeploymentNotice | None:
    """The notice for a FAILURE/STOP state-change event, or ``None`` for any other state."""
    detail = event.get("detail") or {}
    state = str(detail.get("state", ""))
    if state not in NOTICE_STATES:
        return None
    deployment_id = str(detail.get("deploymentId", ""))
    if not deployment_id:
        raise ValueError("a CodeDeploy state-change event without a deploymentId")
    application = str(detail.get("application", ""))
    group = str(detail.get("deploymentGroup", ""))
    info = lookup.deployment(deployment_id)
    current, target = _versions(info)
    alarms = lookup.alarms_in_alarm(lookup.group_alarms(application, group))
    error = str((info.get("errorInformation") or {}).get("message", ""))
    return DeploymentNotice(
        deployment_id=deployment_id,
        application=application,
        group=group,
        state=state,
        region=str(event.get("region", detail.get("region", ""))),
        account=str(event.get("account", "")),
        current_version=current,
        target_version=target,
        alarms=alarms,
        error=error[:500],
    )


class Boto3DeploymentLookup:
    """The CodeDeploy and CloudWatch reads, through boto3."""

    def __init__(self, codedeploy: Any | None = None, cloudwatch: Any | None = None) -> None:
        import boto3

        self.codedeploy = codedeploy or boto3.client("codedeploy")
        self.cloudwatch = cloudwatch or boto3.client("cloudwatch")

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        info: dict[str, Any] = self.codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        return info

    def group_alarms(self, application: str, group: str) -> list[str]:
        response = self.codedeploy.get_deployment_group(
            applicationName=application, deploymentGroupName=group
        )
        configuration = response["deploymentGroupInfo"].get("alarmConfiguration") or {}
        return [str(alarm["name"]) for alarm in configuration.get("alarms", [])]

    def alarms_in_alarm(self, names: list[str]) -> list[str]:
        if not names:
            return []
        response = self.cloudwatch.describe_alarms(AlarmNames=names[:100], StateValue="ALARM")
        return sorted(str(alarm["AlarmName"]) for alarm in response.get("MetricAlarms", []))
