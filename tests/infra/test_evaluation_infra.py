"""Template tests of the evaluation construct: labels prefix, schedule, permissions, alarms."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions

from infra.config import load_stage_config
from infra.constructs.archive import ArchiveQuery
from infra.constructs.evaluation import Evaluation
from propensity.constants import METRIC_NAMESPACE
from propensity.evaluation import metric_names as names
from propensity.labels.layout import LABEL_FILE_SUFFIXES
from propensity.policy.evaluation import EvaluationThresholds

ROOT = Path(__file__).resolve().parents[2]


def stage_config(**evaluation):
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    if evaluation:
        context["stages"]["dev"]["evaluation"] = evaluation
    return load_stage_config(context, "dev")


def synth(tmp_path: Path, config=None, registry: str | None = None):
    config = config or stage_config()
    if registry:
        models = {api: pin.model_copy(update={"registry": registry}) for api, pin in config.models.items()}
        config = config.model_copy(update={"models": models})
    app = cdk.App()
    stack = cdk.Stack(app, "EvaluationTest", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    bucket = s3.Bucket(
        stack,
        "Archive",
        enforce_ssl=True,
        versioned=True,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
    )
    NagSuppressions.add_resource_suppressions(
        bucket,
        [
            NagPackSuppression(
                id="AwsSolutions-S1", reason="test bucket: access logging belongs to the archive construct"
            )
        ],
    )
    topics = {
        tier: sns.Topic(stack, f"Topic{tier}", enforce_ssl=True) for tier in ("critical", "warning", "info")
    }
    for topic in topics.values():
        NagSuppressions.add_resource_suppressions(
            topic,
            [
                NagPackSuppression(
                    id="AwsSolutions-SNS2", reason="test topic: encryption belongs to the alerting construct"
                )
            ],
        )
    layer = lambda_.LayerVersion.from_layer_version_arn(
        stack, "Layer", "arn:aws:lambda:eu-west-1:111111111111:layer:propensity-domain:1"
    )
    bundles = {}
    for api in ("v1", "v2"):
        folder = tmp_path / f"{api}-abc123"
        folder.mkdir()
        (folder / "manifest.json").write_text(json.dumps({"api_version": api}))
        bundles[api] = folder
    query = ArchiveQuery(
        workgroup="propensity-test-archive",
        database="propensity_test_archive",
        workgroup_arn="arn:aws:athena:eu-west-1:111111111111:workgroup/propensity-test-archive",
        catalog_arns=("arn:aws:glue:eu-west-1:111111111111:catalog",),
        bucket=bucket,
        key=kms.Key(stack, "Key", enable_key_rotation=True),
    )
    construct = Evaluation(
        stack,
        "Evaluation",
        bucket=bucket,
        topics=topics,
        config=config,
        bundle_dirs=bundles,
        layers=[layer],
        query=query,
    )
    cdk.Aspects.of(stack).add(AwsSolutionsChecks())
    template = Template.from_stack(stack)
    return stack, template, construct, topics


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    return synth(tmp_path_factory.mktemp("bundles"))


def ref(stack, construct) -> dict:
    return {"Ref": stack.get_logical_id(construct.node.default_child)}


def test_labels_prefix_notifies_the_ingestion_function_once_per_suffix(synthesized):
    stack, template, construct, _ = synthesized
    # Then the bucket notifies the labels function for each supported suffix under labels/ only
    notifications = template.find_resources("Custom::S3BucketNotifications")
    (config,) = [r["Properties"]["NotificationConfiguration"] for r in notifications.values()]
    filters = {
        tuple((rule["Name"], rule["Value"]) for rule in c["Filter"]["Key"]["FilterRules"])
        for c in config["LambdaFunctionConfigurations"]
    }
    assert filters == {
        (("suffix", suffix), ("prefix", "labels/")) for suffix in LABEL_FILE_SUFFIXES
    } or filters == {(("prefix", "labels/"), ("suffix", suffix)) for suffix in LABEL_FILE_SUFFIXES}
    assert all(c["Events"] == ["s3:ObjectCreated:*"] for c in config["LambdaFunctionConfigurations"])
    labels_arn = stack.resolve(construct.labels.function.function_arn)
    assert all(c["LambdaFunctionArn"] == labels_arn for c in config["LambdaFunctionConfigurations"])
    # And S3 may invoke it
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "Principal": "s3.amazonaws.com",
            "FunctionName": stack.resolve(construct.labels.function.function_arn),
        },
    )


def test_weekly_schedule_invokes_the_evaluation_function(synthesized):
    stack, template, construct, _ = synthesized
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "cron(0 6 ? * MON *)",
            "State": "ENABLED",
            "Targets": [
                Match.object_like(
                    {
                        "Arn": stack.resolve(construct.evaluate.function.function_arn),
                        "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600},
                    }
                )
            ],
        },
    )
    # And the function runs one at a time, with the stage's thresholds and the shipped manifests
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "evaluate_handler.lambda_handler",
            "ReservedConcurrentExecutions": 1,
            "Timeout": 900,
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "BASELINES_DIR": "/var/task",
                        "METRICS_BACKEND": "cloudwatch",
                        "EVALUATION_THRESHOLDS": EvaluationThresholds().model_dump_json(),
                    }
                )
            },
        },
    )


def _statements(template, role_logical_prefix: str) -> list[dict]:
    statements = []
    for resource in template.find_resources("AWS::IAM::Policy").values():
        roles = json.dumps(resource["Properties"]["Roles"])
        if role_logical_prefix in roles:
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _object_resources(statements, action: str) -> set[str]:
    found = set()
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if action in actions:
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for resource in resources:
                text = json.dumps(resource)
                for piece in ("labels/*", "outcomes/*", "evaluation/*", "predictions/*", "models/*"):
                    if piece in text:
                        found.add(piece)
    return found


def test_each_function_writes_only_its_own_prefix(synthesized):
    stack, template, construct, _ = synthesized
    labels = _statements(template, stack.get_logical_id(construct.labels.role.node.default_child))
    evaluate = _statements(template, stack.get_logical_id(construct.evaluate.role.node.default_child))
    # Then ingestion reads labels/ and outcomes/ and writes outcomes/ only
    assert _object_resources(labels, "s3:PutObject") == {"outcomes/*"}
    assert _object_resources(labels, "s3:GetObject*") == {"labels/*", "outcomes/*"}
    # And the evaluation reads predictions/, outcomes/, evaluation/ and writes evaluation/ only
    assert _object_resources(evaluate, "s3:PutObject") == {"evaluation/*"}
    # (models/* is the registry's own bucket, read-only: see the S3 registry test below)
    assert _object_resources(evaluate, "s3:GetObject*") - {"models/*"} == {
        "predictions/*",
        "outcomes/*",
        "evaluation/*",
    }
    assert "models/*" not in _object_resources(evaluate, "s3:PutObject")
    # And it may publish metrics only into the project's namespace
    (metrics,) = [s for s in evaluate if s["Action"] == "cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}}
    assert not any(s["Action"] == "cloudwatch:PutMetricData" for s in labels)


def _watched(properties: dict) -> dict:
    """Metric name, namespace, dimensions, statistic and period, in either alarm form CDK writes."""
    if "MetricName" in properties:
        return {
            k: properties.get(k) for k in ("MetricName", "Namespace", "Dimensions", "Statistic", "Period")
        }
    (query,) = properties["Metrics"]
    stat = query["MetricStat"]
    return {**stat["Metric"], "Statistic": stat["Stat"], "Period": stat["Period"]}


def _alarm(template, metric: str, api: str | None) -> dict:
    found = []
    for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
        watched = _watched(alarm["Properties"])
        if watched["MetricName"] == metric and (
            api is None or {"Name": "ApiVersion", "Value": api} in (watched.get("Dimensions") or [])
        ):
            found.append({**alarm["Properties"], **watched})
    assert len(found) == 1, f"{metric} {api}: {len(found)} alarms"
    return found[0]


def test_alarms_use_the_stage_thresholds_and_tiers(tmp_path):
    # Given a stage that overrides the evaluation thresholds
    config = stage_config(
        f1_drop_warning_relative=0.2, conversion_drop_warning_relative=0.3, ece_info_bound=0.08
    )
    stack, template, _, topics = synth(tmp_path, config)
    warning, info = stack.resolve(topics["warning"].topic_arn), stack.resolve(topics["info"].topic_arn)
    for api in ("v1", "v2"):
        f1 = _alarm(template, names.F1_DROP, api)
        assert (f1["Threshold"], f1["ComparisonOperator"]) == (0.2, "GreaterThanThreshold")
        assert f1["AlarmActions"] == [warning] and f1["OKActions"] == [warning]
        assert f1["TreatMissingData"] == "ignore" and f1["Namespace"] == METRIC_NAMESPACE
        assert f1["Statistic"] == "Maximum" and f1["Period"] == 86400
        assert (
            "[tier: warning]" in f1["AlarmDescription"]
            and "#evaluation-f1-drop-warning" in f1["AlarmDescription"]
        )
        conversion = _alarm(template, names.CONVERSION_DROP, api)
        assert (conversion["Threshold"], conversion["AlarmActions"]) == (0.3, [warning])
        ece = _alarm(template, names.CALIBRATION_ERROR, api)
        assert (ece["Threshold"], ece["AlarmActions"]) == (0.08, [info])
        assert "OKActions" not in ece and "[tier: info]" in ece["AlarmDescription"]
    # And failing jobs warn
    errors = [
        a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if _watched(a["Properties"])["MetricName"] == "Errors"
    ]
    assert len(errors) == 2 and all(e["AlarmActions"] == [warning] for e in errors)


def test_an_s3_registry_is_readable_by_the_evaluation_function(tmp_path):
    stack, template, construct, _ = synth(tmp_path, registry="s3://team-registry/prod")
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "evaluate_handler.lambda_handler",
            "Environment": {"Variables": Match.object_like({"REGISTRY_LOCATION": "s3://team-registry/prod"})},
        },
    )
    evaluate = _statements(template, stack.get_logical_id(construct.evaluate.role.node.default_child))
    assert "models/*" in _object_resources(evaluate, "s3:GetObject*")
    assert any("team-registry/prod/models/*" in json.dumps(s["Resource"]) for s in evaluate)


def test_cdk_nag_finds_nothing_unsuppressed(synthesized):
    stack, *_ = synthesized
    errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert errors == [], "\n".join(str(e.entry.data) for e in errors)


def test_the_model_monitoring_stack_ships_the_evaluation_with_the_deployed_manifests(prod_app):
    # Given the prod app synthesized with the session's trained champions
    template = prod_app.template("model_monitoring")
    functions = template.find_resources("AWS::Lambda::Function")
    (evaluate,) = [
        f for f in functions.values() if f["Properties"].get("FunctionName") == "propensity-prod-evaluate"
    ]
    # Then the evaluation function ships both champions' manifests for its baselines
    asset_hash = evaluate["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    asset = Path(prod_app.assembly.directory) / f"asset.{asset_hash}"
    shipped = sorted(p.name for p in asset.glob("manifest-*.json"))
    assert shipped == ["manifest-v1.json", "manifest-v2.json"]
    versions = {json.loads((asset / name).read_text())["model_version"] for name in shipped}
    assert versions == set(prod_app.stacks["service"].model_versions.values())
    # And its labels notification targets the stack's archive bucket
    assert any(f["Properties"].get("FunctionName") == "propensity-prod-labels" for f in functions.values())
    assert len(template.find_resources("Custom::S3BucketNotifications")) == 1
    # And cdk-nag has nothing unsuppressed to say about it
    assert [e for e in prod_app.errors("model_monitoring") if "/Evaluation/" in e] == []
