"""A CodeDeploy rollback becomes one alert with the deployment, both versions and the alarm that fired."""

from __future__ import annotations

import json

from propensity.alerting.alarm import parse_alarm_message
from propensity.promotion.deployment_notice import notice_from_event

# The EventBridge event CodeDeploy sends (aws.codedeploy, "CodeDeploy Deployment State-change Notification").
EVENT = {
    "version": "0",
    "id": "c8f2b7a4-0000-4000-8000-000000000000",
    "detail-type": "CodeDeploy Deployment State-change Notification",
    "source": "aws.codedeploy",
    "account": "222222222222",
    "time": "2026-12-01T09:00:00Z",
    "region": "eu-west-1",
    "resources": ["arn:aws:codedeploy:eu-west-1:222222222222:application:propensity-prod-predict-v2"],
    "detail": {
        "region": "eu-west-1",
        "deploymentId": "d-ABCDEF123",
        "instanceGroupId": "8cd3bfa8-0000-4000-8000-000000000000",
        "deploymentGroup": "propensity-prod-predict-v2-live",
        "state": "FAILURE",
        "application": "propensity-prod-predict-v2",
    },
}
APPSPEC = {
    "version": 0.0,
    "Resources": [
        {
            "predict": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Name": "propensity-prod-predict-v2",
                    "Alias": "live",
                    "CurrentVersion": "7",
                    "TargetVersion": "8",
                },
            }
        }
    ],
}


class Lookup:
    def deployment(self, deployment_id):
        assert deployment_id == "d-ABCDEF123"
        return {
            "revision": {
                "revisionType": "AppSpecContent",
                "appSpecContent": {"content": json.dumps(APPSPEC)},
            },
            "errorInformation": {"code": "ALARM_ACTIVE", "message": "One or more alarms have been activated"},
        }

    def group_alarms(self, application, group):
        return ["propensity-prod-v2-errors", "propensity-prod-v2-5xx"]

    def alarms_in_alarm(self, names):
        return ["propensity-prod-v2-5xx"]


def test_a_failed_deployment_is_announced_with_both_versions_and_the_alarm():
    notice = notice_from_event(EVENT, Lookup())
    assert notice is not None
    assert (notice.current_version, notice.target_version) == ("7", "8")
    message = notice.message(tier="critical", runbook_url="https://example.org/RUNBOOK.md")
    # the notifiers parse it as any alarm: tier, runbook link and the reason with every detail
    alarm = parse_alarm_message(json.dumps(message))
    assert alarm.tier == "critical" and alarm.new_state == "ALARM"
    assert alarm.parsed_description.runbook == "https://example.org/RUNBOOK.md#deployment-rolled-back"
    for fact in (
        "d-ABCDEF123",
        "version 8 rolled back to 7",
        "propensity-prod-v2-5xx",
        "alarms have been activated",
    ):
        assert fact in alarm.reason


def test_other_states_are_not_announced():
    assert notice_from_event({**EVENT, "detail": {**EVENT["detail"], "state": "SUCCESS"}}, Lookup()) is None
