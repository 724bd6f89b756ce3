"""The local jobs' alarms are the stack's alarms: same keys, runbook entries, tiers and rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aws_cdk import aws_cloudwatch as cloudwatch

from infra.config import load_stage_config
from infra.constructs.drift import drift_alarm_specs
from infra.constructs.evaluation import evaluation_alarm_specs
from propensity.alerting.local_catalogue import all_specs
from propensity.constants import API_VERSIONS

CDK_JSON = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())


def test_every_local_alarm_matches_the_stack_alarm_of_the_same_key():
    config = load_stage_config(CDK_JSON["context"], "dev")
    errors = cloudwatch.Metric(namespace="AWS/Lambda", metric_name="Errors")
    stack = {
        s.key: s
        for s in [*drift_alarm_specs(config, errors), *evaluation_alarm_specs(config, errors, errors)]
    }
    for local in all_specs(API_VERSIONS):
        aws = stack[local.key]
        assert (local.anchor, local.tier, local.ok_action) == (aws.anchor, aws.tier, aws.ok_action), local.key
        assert local.evaluation_periods == aws.evaluation_periods, local.key
        assert local.datapoints_to_alarm == (aws.datapoints_to_alarm or aws.evaluation_periods), local.key
        missing = {
            "not_breaching": cloudwatch.TreatMissingData.NOT_BREACHING,
            "ignore": cloudwatch.TreatMissingData.IGNORE,
        }
        assert missing[local.missing] == aws.missing, local.key
        # The local stage uses the policy's defaults; so does dev unless cdk.json overrides them.
        assert local.threshold == aws.threshold, local.key
        # CloudWatch's API spelling (GreaterThanThreshold) against CDK's enum (GREATER_THAN_THRESHOLD)
        assert re.sub(r"(?<!^)(?=[A-Z])", "_", local.comparison).upper() == aws.comparison.value, local.key
