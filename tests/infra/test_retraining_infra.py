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
