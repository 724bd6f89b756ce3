"""Template tests of the model monitoring stack: subscription, Firehose, bucket, Glue table,
drift schedule and alarms, shadow scorer.

Most tests synthesize the stack once against stand-ins for the service stack (two log groups,
two shipped manifests) and the monitoring stack (three topics), with an S3 registry so that
the shadow scorer is deployed; one test reads the stack from the real prod app.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import aws_cdk as cdk
import pytest
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from infra.config import load_stage_config
from infra.constructs.drift import drift_alarm_specs, hourly_schedule, registry_location
from infra.constructs.nag import add_nag_checks
from infra.stacks.model_monitoring_stack import ModelMonitoringStack
from propensity.constants import API_VERSIONS, EVENT_LOG_MARKER
from propensity.drift import metrics as names
from propensity.events import PredictionEvent
from propensity.labels.models import Outcome
from propensity.policy.drift import DriftThresholds
from propensity.service.core.rejections import ARCHIVE_REJECTIONS_PREFIX, REJECTION_LOG_MARKER
from tests.infra.conftest import CDK_JSON, FEATURE_FLAGS

REGISTRY = "s3://propensity-registry-dev/registry"


def dev_config(**drift):
    context = json.loads(json.dumps(CDK_JSON["context"]))
    context["stages"]["dev"]["models"]["v1"]["registry"] = REGISTRY
    context["stages"]["dev"]["models"]["v2"]["registry"] = REGISTRY
    context["stages"]["dev"]["registry"] = {"deploy": False}  # an external registry bucket
    if drift:
        context["stages"]["dev"]["drift"] = drift
    return load_stage_config(context, "dev")


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    config = dev_config()
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk-mm")), context=FEATURE_FLAGS)
    env = cdk.Environment(account=config.account, region=config.region)
    service_stack = cdk.Stack(app, "StandInService", env=env)
    bundles = {}
    for api in API_VERSIONS:
        folder = tmp_path_factory.mktemp(f"{api}-bundle")
        (folder / "manifest.json").write_text(json.dumps({"api_version": api}))
        bundles[api] = folder
    service = SimpleNamespace(
        log_groups={
            api: logs.LogGroup(
                service_stack, f"Logs{api}", log_group_name=f"/aws/lambda/propensity-dev-predict-{api}"
            )
            for api in API_VERSIONS
        },
        bundle_dirs=bundles,
    )
    monitoring_stack = cdk.Stack(app, "StandInMonitoring", env=env)
    monitoring = SimpleNamespace(
        topics={tier: sns.Topic(monitoring_stack, tier) for tier in ("critical", "warning", "info")}
    )
    stack = ModelMonitoringStack(
        app, "Propensity-dev-ModelMonitoring", config=config, service=service, monitoring=monitoring, env=env
    )
    add_nag_checks(stack)
    artifact = app.synth().get_stack_artifact(stack.artifact_id)
    return SimpleNamespace(
        stack=stack,
        template=Template.from_json(artifact.template),
        artifact=artifact,
        monitoring=monitoring_stack,
        topics=monitoring.topics,
        config=config,
        log_groups=service.log_groups,
    )


def only(template: Template, kind: str, props: dict | None = None) -> dict:
    found = template.find_resources(kind, {"Properties": props} if props else None)
    assert len(found) == 1, f"{len(found)} {kind}"
    return next(iter(found.values()))["Properties"]


def test_each_prediction_log_group_is_subscribed_to_the_stream_for_prediction_events(synthesized):
    t, stack = synthesized.template, synthesized.stack
    stream_arn = stack.resolve(stack.archive.delivery_stream.delivery_stream_arn)
    t.resource_count_is("AWS::Logs::SubscriptionFilter", len(API_VERSIONS) + 1)  # + v1's refusals
    for api in API_VERSIONS:
        t.has_resource_properties(
            "AWS::Logs::SubscriptionFilter",
            {
                "FilterPattern": f'{{ $.event = "{EVENT_LOG_MARKER}" }}',
                "DestinationArn": stream_arn,
                "LogGroupName": Match.any_value(),
                "FilterName": f"propensity-dev-prediction-events-{api}",
                "RoleArn": Match.any_value(),
            },
        )
    # And CloudWatch Logs may put records on that stream, and nothing else
    roles = t.find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [Match.object_like({"Principal": {"Service": "logs.amazonaws.com"}})]
                }
            }
        },
    )
    assert len(roles) == len(API_VERSIONS) + 1
    rejections_arn = stack.resolve(stack.archive.rejections_stream.delivery_stream_arn)
    for policy in t.find_resources("AWS::IAM::Policy").values():
        if any(role in json.dumps(policy["Properties"]["Roles"]) for role in roles):
            [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
            assert statement["Action"] == ["firehose:PutRecord", "firehose:PutRecordBatch"]
            assert statement["Effect"] == "Allow" and statement["Resource"] in (stream_arn, rejections_arn)


def test_refused_v1_calls_reach_the_archive_under_rejections_through_their_own_stream(synthesized):
    t, stack = synthesized.template, synthesized.stack
    # Given the stream and the filter for RejectedRequest lines
    rejections_arn = stack.resolve(stack.archive.rejections_stream.delivery_stream_arn)
    v1_logs = stack.resolve(synthesized.log_groups["v1"].log_group_name)
    # Then only v1's log group sends its RejectedRequest lines, to that stream, not to the predictions one
    t.has_resource_properties(
        "AWS::Logs::SubscriptionFilter",
        {
            "FilterPattern": f'{{ $.event = "{REJECTION_LOG_MARKER}" }}',
            "DestinationArn": rejections_arn,
            "LogGroupName": v1_logs,
            "FilterName": "propensity-dev-rejected-requests-v1",
        },
    )
    rejection_filters = [
        f
        for f in t.find_resources("AWS::Logs::SubscriptionFilter").values()
        if REJECTION_LOG_MARKER in f["Properties"]["FilterPattern"]
    ]
    assert len(rejection_filters) == 1
    # And the stream writes them by hour under rejections/, which the jobs do not read, as
    # `propensity v1-usage` expects, and the bucket expires them
    streams = t.find_resources("AWS::KinesisFirehose::DeliveryStream")
    logical = stack.get_logical_id(stack.archive.rejections_stream.node.default_child)
    s3 = streams[logical]["Properties"]["ExtendedS3DestinationConfiguration"]
    assert s3["Prefix"] == f"{ARCHIVE_REJECTIONS_PREFIX}!{{timestamp:yyyy/MM/dd/HH}}/"
    assert s3["ErrorOutputPrefix"].startswith(f"firehose-errors/{ARCHIVE_REJECTIONS_PREFIX}")
    assert s3["CompressionFormat"] == "GZIP"
    assert [p["Type"] for p in s3["ProcessingConfiguration"]["Processors"]] == [
        "Decompression",
        "CloudWatchLogProcessing",
        "AppendDelimiterToRecord",
    ]
    bucket = t.find_resources("AWS::S3::Bucket")[
        stack.get_logical_id(stack.archive_bucket.node.default_child)
    ]
    rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["rejections"]["Prefix"] == ARCHIVE_REJECTIONS_PREFIX
    assert rules["rejections"]["ExpirationInDays"] == 730


def test_firehose_unwraps_cloudwatch_logs_and_writes_gzip_json_lines_by_hour(synthesized):
    stack = synthesized.stack
    props = only(
        synthesized.template,
        "AWS::KinesisFirehose::DeliveryStream",
        {"DeliveryStreamName": "propensity-dev-predictions"},
    )
    s3 = props["ExtendedS3DestinationConfiguration"]
    assert s3["Prefix"] == "predictions/!{timestamp:yyyy/MM/dd/HH}/"
    assert s3["ErrorOutputPrefix"].startswith("firehose-errors/!{firehose:error-output-type}/")
    assert s3["CompressionFormat"] == "GZIP"
    assert [p["Type"] for p in s3["ProcessingConfiguration"]["Processors"]] == [
        "Decompression",
        "CloudWatchLogProcessing",
        "AppendDelimiterToRecord",
    ]
    extraction = s3["ProcessingConfiguration"]["Processors"][1]["Parameters"]
    assert {"ParameterName": "DataMessageExtraction", "ParameterValue": "true"} in extraction
    assert s3["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"] == stack.resolve(
        stack.archive.key.key_arn
    )
    assert s3["BucketARN"] == stack.resolve(stack.archive_bucket.bucket_arn)
    assert s3["CloudWatchLoggingOptions"]["Enabled"] is True
    assert props["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}


def test_the_archive_bucket_is_encrypted_versioned_private_logged_and_expires_by_prefix(synthesized):
    t, stack = synthesized.template, synthesized.stack
    bucket = t.find_resources("AWS::S3::Bucket")[
        stack.get_logical_id(stack.archive_bucket.node.default_child)
    ]
    props = bucket["Properties"]
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == stack.resolve(stack.archive.key.key_arn)
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "archive/"
    assert bucket["DeletionPolicy"] == "Retain"
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    predictions = rules["predictions"]
    assert predictions["Prefix"] == "predictions/" and predictions["ExpirationInDays"] == 730
    assert [tr["StorageClass"] for tr in predictions["Transitions"]] == ["STANDARD_IA", "GLACIER_IR"]
    assert rules["old-versions-and-uploads"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rules["old-versions-and-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert {"drift", "shadow", "firehose-errors", "athena-results"} <= set(rules)
    t.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    # And TLS is required, and the access-log bucket takes logs through a policy, not an ACL
    t.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            }
        },
    )
    t.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject"}
                        )
                    ]
                )
            }
        },
    )
    assert not any("AccessControl" in b["Properties"] for b in t.find_resources("AWS::S3::Bucket").values())


def test_glue_table_has_one_column_per_event_field_and_projects_the_hour_partitions(synthesized):
    t = synthesized.template
    t.resource_count_is("AWS::Glue::Database", 1)
    t.resource_count_is("AWS::Glue::Table", 2)
    tables = {
        r["Properties"]["TableInput"]["Name"]: r["Properties"]["TableInput"]
        for r in t.find_resources("AWS::Glue::Table").values()
    }
    table = tables["predictions"]
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert list(columns) == list(PredictionEvent.model_fields)
    assert columns["probability"] == "double" and columns["warnings"] == "array<string>"
    assert columns["synthetic"] == "boolean"
    assert columns["features"].startswith("struct<age:double,job:string,")
    assert (
        "has_housing_loan:boolean" in columns["features"]
        and "days_since_previous_contact:double" in columns["features"]
    )
    # And the outcome store is a table beside it, one column per accepted outcome field
    outcomes = tables["outcomes"]
    assert [c["Name"] for c in outcomes["StorageDescriptor"]["Columns"]] == list(Outcome.model_fields)
    assert json.dumps(outcomes["StorageDescriptor"]["Location"]).count("outcomes/accepted/") == 1
    assert columns["latency"] == (
        "struct<validation_ms:double,preprocessing_ms:double,inference_ms:double,serialization_ms:double>"
    )
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.dt.format"] == "yyyy/MM/dd/HH"
    assert parameters["projection.dt.interval.unit"] == "HOURS"
    assert json.dumps(parameters["storage.location.template"]).count("predictions/${dt}/") == 1
    serde = table["StorageDescriptor"]["SerdeInfo"]
    assert serde["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert serde["Parameters"]["ignore.malformed.json"] == "true"
    # And Athena query results stay encrypted with the archive key
    workgroup = only(t, "AWS::Athena::WorkGroup")["WorkGroupConfiguration"]
    assert workgroup["EnforceWorkGroupConfiguration"] is True
    assert workgroup["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert workgroup["BytesScannedCutoffPerQuery"] == 500 * 2**30


def test_the_jobs_query_the_archive_with_athena(synthesized):
    t, stack = synthesized.template, synthesized.stack
    # Then the drift and evaluation functions know the workgroup and database, and may use them
    for job in (stack.drift.job, stack.evaluation.evaluate):
        env = only_function_env(t, stack, job)
        assert env["ATHENA_WORKGROUP"] == "propensity-dev-archive"
        assert env["GLUE_DATABASE"] == "propensity_dev_archive"
        actions = role_actions(t, stack, job)
        assert {"athena:StartQueryExecution", "athena:GetQueryResults", "glue:GetTable"} <= actions


def test_the_drift_job_runs_hourly_after_the_hour_settles_with_the_stage_thresholds(synthesized):
    t, stack = synthesized.template, synthesized.stack
    function_arn = stack.resolve(stack.drift.job.function.function_arn)
    t.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "cron(20 * * * ? *)",
            "State": "ENABLED",
            "Targets": [Match.object_like({"Arn": function_arn, "RetryPolicy": Match.any_value()})],
        },
    )
    assert hourly_schedule().expression_string == "cron(20 * * * ? *)"
    t.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "drift_handler.lambda_handler",
            "ReservedConcurrentExecutions": 1,
            "Timeout": 900,
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "DRIFT_THRESHOLDS": synthesized.config.drift.model_dump_json(),
                        "REFERENCES_DIR": "/var/task",
                        "REGISTRY_LOCATION": REGISTRY,
                        "METRICS_BACKEND": "cloudwatch",
                    }
                )
            },
        },
    )


def test_alarms_route_warnings_and_info_to_their_topics_with_the_stage_thresholds(synthesized):
    t, stack = synthesized.template, synthesized.stack
    thresholds = DriftThresholds()

    def topic(tier):
        return stack.resolve(synthesized.topics[tier].topic_arn)

    for api in API_VERSIONS:
        for metric, threshold, operator, tier in (
            (names.MAX_FEATURE_PSI, thresholds.psi_warning, "GreaterThanThreshold", "warning"),
            (names.YES_RATE_SHIFT, thresholds.yes_rate_warning_points, "GreaterThanThreshold", "warning"),
            (
                names.FEATURES_OVER_PSI_INFO,
                thresholds.psi_info_feature_count,
                "GreaterThanOrEqualToThreshold",
                "info",
            ),
        ):
            t.has_resource_properties(
                "AWS::CloudWatch::Alarm",
                {
                    "Metrics": [
                        Match.object_like(
                            {
                                "MetricStat": {
                                    "Metric": {
                                        "MetricName": metric,
                                        "Namespace": "Propensity",
                                        "Dimensions": [{"Name": "ApiVersion", "Value": api}],
                                    },
                                    "Period": 3600,
                                    "Stat": "Maximum",
                                }
                            }
                        )
                    ],
                    "Threshold": threshold,
                    "ComparisonOperator": operator,
                    "EvaluationPeriods": 2,
                    "DatapointsToAlarm": 1,
                    "TreatMissingData": "notBreaching",
                    "AlarmActions": [topic(tier)],
                },
            )
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "propensity-dev-drift-job-failed-warning",
            "MetricName": "Errors",
            "AlarmActions": [topic("warning")],
        },
    )
    # And a stage that overrides a threshold gets it in its alarm (the policy is the one source)
    custom = drift_alarm_specs(dev_config(psi_warning=0.3, yes_rate_warning_points=10), job_errors=None)
    assert {s.key: s.threshold for s in custom}["drift-feature-psi-warning-v1"] == 0.3
    assert {s.key: s.threshold for s in custom}["drift-yes-rate-warning-v2"] == 10


def test_the_shadow_scorer_is_notified_of_new_archive_objects_and_reads_the_registry(synthesized):
    t, stack = synthesized.template, synthesized.stack
    assert stack.shadow is not None
    shadow_arn = stack.resolve(stack.shadow.scorer.function.function_arn)
    [notifications] = [
        r["Properties"]["NotificationConfiguration"]
        for r in t.find_resources("Custom::S3BucketNotifications").values()
    ]
    [config] = [
        c for c in notifications["LambdaFunctionConfigurations"] if c["LambdaFunctionArn"] == shadow_arn
    ]
    assert config["Events"] == ["s3:ObjectCreated:*"]
    assert config["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "predictions/"}]
    t.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "shadow_handler.lambda_handler",
            "Environment": {"Variables": Match.object_like({"REGISTRY_LOCATION": REGISTRY})},
        },
    )
    policies = json.dumps(
        [p["Properties"]["PolicyDocument"] for p in t.find_resources("AWS::IAM::Policy").values()]
    )
    assert "propensity-registry-dev" in policies and "registry/aliases/*" in policies
    # And it only writes under shadow/
    scorer_role = stack.get_logical_id(stack.shadow.scorer.role.node.default_child)
    puts = [
        s
        for p in t.find_resources("AWS::IAM::Policy").values()
        if scorer_role in json.dumps(p["Properties"]["Roles"])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "s3:PutObject" in json.dumps(s["Action"])
    ]
    assert puts and all("/shadow/results/*" in json.dumps(s["Resource"]) for s in puts)


def test_no_unsuppressed_nag_finding(synthesized):
    errors = [
        f"{m.id}: {m.entry.data}"
        for m in synthesized.artifact.messages
        if str(m.level.value).lower() == "error"
    ]
    assert errors == []


def test_a_stage_that_requires_the_shadow_scorer_cannot_leave_it_out():
    # Given cdk.json's stages: each follows its registry stack's bucket
    for stage in ("dev", "prod"):
        config = load_stage_config(CDK_JSON["context"], stage)
        assert "shadow" in config.requires
        assert registry_location(config) == f"s3://propensity-{stage}-registry-{config.account}-eu-west-1"
    assert registry_location(dev_config()) == REGISTRY
    # When a stage's models are pinned in a folder (unreachable from AWS, so no shadow scorer)
    context = json.loads(json.dumps(CDK_JSON["context"]))
    for pin in context["stages"]["prod"]["models"].values():
        pin["registry"] = ".local/registry"
    # Then synth refuses the configuration instead of silently leaving the shadow scorer out
    with pytest.raises(ValueError, match="requires the shadow scorer"):
        load_stage_config(context, "prod")
    # And a stage pointing at another bucket than its registry stack's is refused too
    context = json.loads(json.dumps(CDK_JSON["context"]))
    for pin in context["stages"]["prod"]["models"].values():
        pin["registry"] = REGISTRY
    with pytest.raises(ValueError, match="registry stack creates"):
        load_stage_config(context, "prod")
    context["stages"]["prod"]["models"]["v2"]["registry"] = "s3://another-registry"
    with pytest.raises(ValueError, match="several S3 registries"):
        load_stage_config(context, "prod")


def test_the_real_app_subscribes_the_prediction_functions_log_groups(prod_app):
    stack = prod_app.stacks["model_monitoring"]
    service = prod_app.stacks["service"]
    template = prod_app.template("model_monitoring")
    # Then there is one subscription per prediction function, importing its log group from the service stack
    filters = template.find_resources("AWS::Logs::SubscriptionFilter")
    assert len(filters) == len(API_VERSIONS) + 1  # and v1's refused calls
    for resource in filters.values():
        assert "Fn::ImportValue" in json.dumps(resource["Properties"]["LogGroupName"])
    assert stack.shadow is not None  # prod follows its registry stack's bucket
    assert service.log_groups.keys() == set(API_VERSIONS)


def only_function_env(t, stack, job) -> dict:
    logical = stack.get_logical_id(job.function.node.default_child)
    return t.find_resources("AWS::Lambda::Function")[logical]["Properties"]["Environment"]["Variables"]


def role_actions(t, stack, job) -> set[str]:
    role = stack.get_logical_id(job.role.node.default_child)
    actions: set[str] = set()
    for policy in t.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            action = statement["Action"]
            actions |= set(action if isinstance(action, list) else [action])
    return actions
