"""What AWS engineers run on infrastructure code: cdk-nag and cfn-lint, on every stack of the app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cfnlint.api import ManualArgs, lint_file

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("registry", "service", "monitoring", "model_monitoring")


def cfn_lint_settings(region: str) -> ManualArgs:
    """The repository's .cfnlintrc (the one place W3005 is ignored, with its reason)."""
    settings = yaml.safe_load((ROOT / ".cfnlintrc").read_text())
    return ManualArgs(ignore_checks=settings["ignore_checks"], regions=[region])


@pytest.mark.parametrize("stack", STACKS)
def test_cdk_nag_finds_no_unsuppressed_error(prod_app, stack):
    # Given the AwsSolutions checks applied to every stack of the app at synth
    # When the synthesized stack's error annotations are read
    errors = prod_app.errors(stack)
    # Then there are none (every finding is fixed or suppressed with a written reason)
    assert errors == []


@pytest.mark.parametrize("stack", STACKS)
def test_cfn_lint_finds_no_error_or_warning(prod_app, stack):
    # Given a synthesized template
    template = prod_app.template_file(stack)
    # When cfn-lint checks it with the repository's settings
    matches = lint_file(template, config=cfn_lint_settings(prod_app.config.region))
    # Then it reports nothing
    assert [f"{m.rule.id} {m.message} ({m.path})" for m in matches] == []


def test_cfn_lint_catches_a_broken_template(tmp_path):
    # Given a template with a circular dependency (what an alias naming its hook can create)
    template = {
        "Resources": {
            "A": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Fn::GetAtt": ["B", "TopicName"]}}},
            "B": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Fn::GetAtt": ["A", "TopicName"]}}},
        }
    }
    path = tmp_path / "broken.template.json"
    path.write_text(json.dumps(template))
    # When it is linted the same way
    matches = lint_file(path, config=cfn_lint_settings("eu-west-1"))
    # Then the error is reported (the lint test above can fail)
    assert any(m.rule.id == "E3004" for m in matches)


@pytest.mark.parametrize("stack", STACKS)
def test_no_bucket_is_public_or_unencrypted(prod_app, stack):
    # Given every S3 bucket of the stack
    template = prod_app.template(stack)
    for logical_id, bucket in template.find_resources("AWS::S3::Bucket").items():
        props = bucket["Properties"]
        # Then public access is blocked in every way and objects are encrypted at rest
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], logical_id
    # And no bucket policy allows everyone
    for logical_id, policy in template.find_resources("AWS::S3::BucketPolicy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                assert statement.get("Principal") not in ("*", {"AWS": "*"}), logical_id


def test_nag_reports_an_unsuppressed_finding():
    # Given a stack with a bucket that breaks AwsSolutions rules (no access logs, no TLS policy)
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3

    from infra.constructs.nag import add_nag_checks

    app = cdk.App()
    stack = cdk.Stack(app, "Careless")
    s3.Bucket(stack, "Bucket")
    add_nag_checks(stack)
    # When it is synthesized
    messages = app.synth().get_stack_artifact(stack.artifact_id).messages
    # Then the findings surface as errors (the nag test above can fail)
    errors = [str(m.entry.data) for m in messages if str(m.level.value).lower() == "error"]
    assert any(e.startswith("AwsSolutions-S1") for e in errors)
