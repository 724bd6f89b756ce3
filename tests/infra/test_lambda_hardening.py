"""The shared Lambda construct's hardening, in bare stacks (no model training, seconds).

Every function: a KMS-encrypted dead-letter queue (unless failures are routed elsewhere),
KMS-encrypted logs and environment, a reserved concurrency, checkov's no-VPC answer inline.
The labels function's queue has the warning alarm the redrive runbook entry names.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk.assertions import Match, Template

from infra.constructs.hardening import Hardening
from infra.constructs.lambda_function import DEFAULT_RESERVED_CONCURRENCY, LambdaFunction
from tests.infra.test_evaluation_infra import synthesized  # noqa: F401 (module fixture)

ROOT = Path(__file__).resolve().parents[2]


def bare(**kwargs):
    app = cdk.App()
    stack = cdk.Stack(app, "Bare", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    function = LambdaFunction(
        stack,
        "Fn",
        function_name="propensity-test-fn",
        code_dir=ROOT / "functions" / "labels",
        handler="labels_handler.lambda_handler",
        layers=[],
        environment={"ARCHIVE_LOCATION": "s3://b"},
        **kwargs,
    )
    cdk.Aspects.of(stack).add(Hardening())
    return stack, function, Template.from_stack(stack)


def skips(template: Template) -> dict[str, str]:
    [function] = template.find_resources("AWS::Lambda::Function").values()
    return {s["id"]: s["comment"] for s in function["Metadata"]["checkov"]["skip"]}


def test_a_function_gets_an_encrypted_dlq_encrypted_logs_and_environment_and_a_cap():
    stack, function, template = bare()
    key = {"Fn::GetAtt": [stack.get_logical_id(function.key.node.default_child), "Arn"]}
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "KmsKeyArn": key,
            "ReservedConcurrentExecutions": DEFAULT_RESERVED_CONCURRENCY,
            "DeadLetterConfig": {
                "TargetArn": {"Fn::GetAtt": [Match.string_like_regexp("FnDeadLetters"), "Arn"]}
            },
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"QueueName": "propensity-test-fn-dlq", "KmsMasterKeyId": key, "MessageRetentionPeriod": 14 * 86400},
    )
    template.has_resource_properties("AWS::Logs::LogGroup", {"KmsKeyId": key})
    # CloudWatch Logs may use the key for this account's log groups only
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [Match.object_like({"Sid": "CloudWatchLogsEncrypt", "Condition": Match.any_value()})]
                )
            },
        },
    )
    assert "No VPC on purpose" in skips(template)["CKV_AWS_117"]


def test_a_function_whose_failures_go_to_a_destination_has_no_second_queue_and_says_so():
    _, function, template = bare(failures_routed_by="the alert dead-letter queue", reserved_concurrency=10)
    assert function.dead_letter_queue is None
    template.resource_count_is("AWS::SQS::Queue", 0)
    template.has_resource_properties("AWS::Lambda::Function", {"ReservedConcurrentExecutions": 10})
    assert "receive each failure twice" in skips(template)["CKV_AWS_116"]


def test_one_key_per_stack_whatever_the_number_of_functions():
    app = cdk.App()
    stack = cdk.Stack(app, "Two")
    for name in ("a", "b"):
        LambdaFunction(
            stack, name, function_name=name, code_dir=ROOT / "functions" / "labels", handler="h.h", layers=[]
        )
    Template.from_stack(stack).resource_count_is("AWS::KMS::Key", 1)


def test_the_labels_function_fails_into_its_dlq_and_the_dlq_alarms(synthesized):  # noqa: F811
    stack, template, construct, topics = synthesized
    queue = construct.labels.dead_letter_queue
    assert queue is not None
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "propensity-dev-labels",
            "DeadLetterConfig": {"TargetArn": stack.resolve(queue.queue_arn)},
        },
    )
    [alarm] = [
        a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"].endswith("label-ingestion-dlq-warning")
    ]
    [watched] = alarm["Metrics"]
    metric = watched["MetricStat"]["Metric"]
    assert (metric["Namespace"], metric["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert metric["Dimensions"] == [{"Name": "QueueName", "Value": stack.resolve(queue.queue_name)}]
    assert watched["MetricStat"]["Stat"] == "Maximum" and alarm["Threshold"] == 1
    assert alarm["AlarmActions"] == [stack.resolve(topics["warning"].topic_arn)]
