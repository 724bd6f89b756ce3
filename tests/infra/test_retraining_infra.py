"""Template tests of the monthly retraining (issue 12): CodeBuild on a managed image, scheduled,
reading the archive's events and outcomes, writing the registry, alarmed on failed builds."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from tests.infra.test_model_monitoring_stack import synthesized  # noqa: F401 (module fixture)


def test_a_managed_image_codebuild_project_runs_the_retrain_command(synthesized):  # noqa: F811
    projects = synthesized.template.find_resources("AWS::CodeBuild::Project")
    (project,) = projects.values()
    props = project["Properties"]
    assert props["Name"] == "propensity-dev-retrain"
    assert props["Environment"]["Image"].startswith("aws/codebuild/amazonlinux")  # managed, no Docker build
    assert props["Environment"]["Type"] == "ARM_CONTAINER"
    assert "EncryptionKey" in props
    spec = json.dumps(props["Source"]["BuildSpec"])
    assert "propensity retrain --api" in spec
    assert "outcomes/accepted/" in spec and "predictions/" in spec
    assert "[ $? -eq 3 ]" in spec  # a gate refusal is an outcome, not a failed build
    variables = {v["Name"]: v["Value"] for v in props["Environment"]["EnvironmentVariables"]}
    assert variables["REGISTRY"] == "s3://propensity-registry-dev/registry"


def test_it_runs_monthly_and_alarms_on_failed_builds(synthesized):  # noqa: F811
    synthesized.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "cron(0 4 1 * ? *)",
            "Targets": Match.array_with([Match.object_like({"Arn": Match.any_value()})]),
        },
    )
    synthesized.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"AlarmName": "propensity-dev-retrain-failed", "MetricName": "FailedBuilds", "Threshold": 0},
    )


def test_it_reads_only_events_and_accepted_outcomes_and_writes_the_registry(synthesized):  # noqa: F811
    policies = json.dumps(synthesized.template.find_resources("AWS::IAM::Policy"))
    assert "predictions/*" in policies
    assert "outcomes/accepted/*" in policies
    assert "propensity-registry-dev" in policies and "registry/*" in policies


def _retraining_template(tmp_path, **settings):
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3
    from aws_cdk.assertions import Template

    from infra.config import RetrainingConfig
    from infra.constructs.retraining import Retraining
    from propensity.policy.gate import GateThresholds

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Bare", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    Retraining(
        stack,
        "Retraining",
        name_prefix="propensity-test",
        archive=s3.Bucket(stack, "Archive"),
        registry="s3://propensity-registry-test/registry",
        topics={},
        settings=RetrainingConfig(**settings),
        gate=GateThresholds(min_backtest_roc_auc=0.64),
    )
    return Template.from_stack(stack)


def test_the_stage_configures_schedule_mode_configs_and_gate(tmp_path):
    # Given a stage that recalibrates on the 5th at 06:00 with a 6-month backtest on a bigger box
    template = _retraining_template(
        tmp_path, day_of_month=5, hour_utc=6, mode="recalibrate", backtest_months=6, compute="MEDIUM"
    )
    # Then the schedule, the command's flags and the build size follow it
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "cron(0 6 5 * ? *)"})
    (project,) = template.find_resources("AWS::CodeBuild::Project").values()
    props = project["Properties"]
    assert props["Environment"]["ComputeType"] == "BUILD_GENERAL1_MEDIUM"
    spec = json.dumps(props["Source"]["BuildSpec"])
    for api in ("v1", "v2"):
        assert f"--api {api}" in spec
        assert f"--config layers/domain/propensity/training/configs/{api}.toml" in spec
    assert spec.count("--recalibrate-only") == 2 and spec.count("--backtest-months 6") == 2
    # And the gate the command applies is the stage's own, passed as JSON
    variables = {v["Name"]: v["Value"] for v in props["Environment"]["EnvironmentVariables"]}
    assert json.loads(variables["PROPENSITY_GATE_THRESHOLDS"])["min_backtest_roc_auc"] == 0.64


def test_a_stage_training_config_must_ship_with_the_build_and_parse():
    import pytest

    from infra.config import RetrainingConfig

    with pytest.raises(ValueError, match="must be under layers/domain/"):
        RetrainingConfig(configs={"v1": "training/v1.toml"})
    with pytest.raises(ValueError, match="must be under layers/domain/"):
        RetrainingConfig(configs={"v1": "layers/domain/../../etc/v1.toml"})
    # the v1 config names inputs v2 does not have: refused at synth, naming the key
    with pytest.raises(ValueError, match=r"retraining.configs.v2: .*exclude_features"):
        RetrainingConfig(configs={"v2": "layers/domain/propensity/training/configs/v1.toml"})
    with pytest.raises(ValueError, match="cannot read training config"):
        RetrainingConfig(configs={"v1": "layers/domain/propensity/training/configs/v9.toml"})
