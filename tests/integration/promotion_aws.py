"""moto set-ups shared by the registry, rollback and workflow tests: a registry bucket and a
prediction function with published versions whose descriptions are model versions (as infra
publishes them)."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest

REGION = "eu-west-1"
REGISTRY_BUCKET = "propensity-registry-test"

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def use_fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a test reach a real account: moto only, with fake credentials and a fixed region."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def create_signing_key(bucket: str = REGISTRY_BUCKET) -> str:
    """The registry's record-signing key as the registry stack creates it (ECC P-256, sign/verify),
    under the alias the registry looks for (``alias/<bucket>-signing``). Returns its ARN."""
    from propensity.registry.factory import signing_key_alias

    kms = boto3.client("kms", region_name=REGION)
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Description="registry signing")
    kms.create_alias(AliasName=signing_key_alias(bucket), TargetKeyId=key["KeyMetadata"]["KeyId"])
    return str(key["KeyMetadata"]["Arn"])


def create_registry_bucket(name: str = REGISTRY_BUCKET) -> None:
    """A registry bucket as a team creates it: versioned and encrypted by default, with its signing key."""
    create_signing_key(name)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def create_prediction_function(name: str, model_versions: list[str]) -> list[str]:
    """A function with one published version per model (description = model version), and a
    ``live`` alias on the last one. Returns the Lambda version numbers, in order."""
    iam = boto3.client("iam", region_name=REGION)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    lam = boto3.client("lambda", region_name=REGION)
    versions = []
    for i, model_version in enumerate(model_versions):
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("predict_handler.py", f"MODEL = {model_version!r}\n")
        if i == 0:
            lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="predict_handler.lambda_handler",
                Code={"ZipFile": code.getvalue()},
            )
        else:
            lam.update_function_code(FunctionName=name, ZipFile=code.getvalue())
        versions.append(lam.publish_version(FunctionName=name, Description=model_version)["Version"])
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=versions[-1])
    return versions


def live_alias(name: str) -> dict:
    """The ``live`` alias as the Lambda API reports it."""
    return boto3.client("lambda", region_name=REGION).get_alias(FunctionName=name, Name="live")
