"""The registry stack, its signing key's policy, the CodeDeploy rollback rule, the shadow scorer in prod."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from infra.config import registry_bucket_name


def _statement(policy: dict, sid: str) -> dict:
    [found] = [s for s in policy["Statement"] if s.get("Sid") == sid]
    return found


def test_the_registry_bucket_is_versioned_encrypted_private_tls_only_and_locked(prod_app):
    t = prod_app.template("registry")
    config = prod_app.config
    t.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": registry_bucket_name("prod", config.account, config.region),
            "VersioningConfiguration": {"Status": "Enabled"},
            "ObjectLockEnabled": True,
            "ObjectLockConfiguration": {
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like(
                        {"ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"})}
                    )
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
        },
    )
    policies = json.dumps(t.find_resources("AWS::S3::BucketPolicy"))
    assert '"aws:SecureTransport": "false"' in policies  # TLS only
    assert prod_app.errors("registry") == []


def test_only_the_publisher_may_sign_and_the_account_may_verify(prod_app):
    t = prod_app.template("registry")
    keys = {k: v for k, v in t.find_resources("AWS::KMS::Key").items() if v["Properties"].get("KeySpec")}
    [signing] = keys.values()
    assert signing["Properties"]["KeySpec"] == "ECC_NIST_P256"
    assert signing["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    policy = signing["Properties"]["KeyPolicy"]
    signers = [
        s for s in policy["Statement"] if "kms:Sign" in json.dumps(s["Action"]) or s["Action"] == "kms:*"
    ]
    assert [s["Sid"] for s in signers] == ["PublishersSign"]
    assert "Publisher" in json.dumps(signers[0]["Principal"])
    assert "kms:Verify" in _statement(policy, "AccountVerifies")["Action"]
    admin = _statement(policy, "KeyAdministration")["Action"]
    assert "kms:Sign" not in admin and "kms:*" not in admin
    t.has_resource_properties("AWS::KMS::Alias", {"AliasName": Match.string_like_regexp("-signing$")})


def test_the_registry_is_deployed_before_the_service_and_the_jobs_verify_with_its_key(prod_app):
    service = prod_app.stacks["service"]
    assert prod_app.stacks["registry"] in service.dependencies
    mm = prod_app.stacks["model_monitoring"]
    assert mm.shadow is not None  # every stage with an S3 registry shadows its challenger
    t = prod_app.template("model_monitoring")
    functions = t.find_resources("AWS::Lambda::Function")
    shadow = [
        f for f in functions.values() if f["Properties"].get("Handler") == "shadow_handler.lambda_handler"
    ]
    assert len(shadow) == 1
    env = shadow[0]["Properties"]["Environment"]["Variables"]
    assert env["REGISTRY_LOCATION"].startswith("s3://propensity-prod-registry-")
    assert "PROPENSITY_REGISTRY_SIGNING_KEY" in env
    policies = json.dumps(t.find_resources("AWS::IAM::Policy"))
    assert "kms:Verify" in policies and "records/*" in policies


def test_prod_v2_serves_ab_experiments_from_its_registry(prod_app):
    # Given prod's service stack
    t = prod_app.template("service")
    functions = {
        name: f
        for name, f in t.find_resources("AWS::Lambda::Function").items()
        if f["Properties"].get("Handler") == "predict_handler.lambda_handler"
    }
    by_api = {
        f["Properties"]["Environment"]["Variables"]["API_VERSIONS"]: (n, f) for n, f in functions.items()
    }
    v2_env = by_api["v2"][1]["Properties"]["Environment"]["Variables"]
    v1_env = by_api["v1"][1]["Properties"]["Environment"]["Variables"]
    # Then v2 follows the registry's experiment records, and verifies them with the signing key
    assert v2_env["EXPERIMENT_REGISTRY"].startswith("s3://propensity-prod-registry-")
    assert "PROPENSITY_REGISTRY_SIGNING_KEY" in v2_env
    # And v1 (no customer_ref, no experiments) does not
    assert "EXPERIMENT_REGISTRY" not in v1_env
    v2_role = by_api["v2"][1]["Properties"]["Role"]["Fn::GetAtt"][0]
    v2_policies = [
        p
        for p in t.find_resources("AWS::IAM::Policy").values()
        if {"Ref": v2_role} in p["Properties"]["Roles"]
    ]
    text = json.dumps(v2_policies)
    assert "records/*" in text and "models/*" in text and "kms:Verify" in text


def test_codedeploy_rollbacks_reach_the_critical_tier_in_prod(prod_app):
    t = prod_app.template("monitoring")
    t.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.codedeploy"],
                "detail-type": ["CodeDeploy Deployment State-change Notification"],
                "detail": {
                    "state": ["FAILURE", "STOP"],
                    "application": ["propensity-prod-predict-v1", "propensity-prod-predict-v2"],
                },
            },
            "State": "ENABLED",
        },
    )
    functions = t.find_resources("AWS::Lambda::Function")
    [notifier] = [
        f
        for f in functions.values()
        if f["Properties"].get("Handler") == "deployment_notice_handler.lambda_handler"
    ]
    env = notifier["Properties"]["Environment"]["Variables"]
    assert env["NOTICE_TIER"] == "critical"
    assert "critical" in json.dumps(env["NOTICE_TOPIC_ARN"]).lower()
    # and the canary's rollback alarms notify the same tier
    alarms = prod_app.template("service").find_resources("AWS::CloudWatch::Alarm")
    rollback = [a for a in alarms.values() if "Rollback" in a["Properties"].get("AlarmDescription", "")]
    assert rollback and all(
        "propensity-prod-critical" in json.dumps(a["Properties"]["AlarmActions"]) for a in rollback
    )
