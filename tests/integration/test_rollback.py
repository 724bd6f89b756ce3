"""Instant rollback against moto Lambda aliases: live goes back to the previous model's version,
the registry's champion follows, and the reason is recorded."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from propensity.cli import main
from propensity.promotion.deployments import Boto3Deployments, Deployments
from propensity.promotion.lambda_versions import Boto3LambdaVersions
from propensity.promotion.rollback import lambda_version_of, rollback
from propensity.promotion.workflow import PromotionError
from tests.evidence import record_gate
from tests.integration.promotion_aws import create_prediction_function, live_alias, use_fake_credentials
from tests.unit.gate.challengers import derive_bundle

FUNCTION = "propensity-prod-predict-v1"  # what infra names the prod v1 function


@pytest.fixture
def aws(monkeypatch):
    use_fake_credentials(monkeypatch)
    with mock_aws():
        yield


@pytest.fixture
def promoted(registry, bundles, bank_data, tmp_path):
    """Registry: v1 champion A, then B promoted over it. Returns (A, B)."""
    old = registry.alias("v1", "champion")
    new = derive_bundle(bundles["v1"], bank_data, tmp_path / "derived", "retrained")
    registry.register(new.path)
    record_gate(registry, "v1", new.version, passed=True, against=old)
    registry.set_alias("v1", "champion", new.version, reason="passed the gate, approved", actor="ada")
    return old, new.version


def test_rollback_points_live_back_and_moves_champion_back(aws, registry, promoted):
    # Given live serving B (Lambda version 2) after A (version 1)
    old, new = promoted
    versions = create_prediction_function(FUNCTION, [old, new])
    assert live_alias(FUNCTION)["FunctionVersion"] == versions[1]

    # When the operator rolls back
    result = rollback(
        registry,
        Boto3LambdaVersions(),
        "v1",
        FUNCTION,
        reason="conversion dropped after release",
        actor="oncall",
    )

    # Then live serves A's version again, un-weighted, and the registry says so with the reason
    alias = live_alias(FUNCTION)
    assert alias["FunctionVersion"] == versions[0]
    assert not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert "conversion dropped" in alias["Description"]
    assert (result.from_lambda_version, result.to_lambda_version) == (versions[1], versions[0])
    assert (result.from_model_version, result.to_model_version) == (new, old)
    assert registry.alias("v1", "champion") == old
    last = registry.history("v1", "champion")[-1]
    assert (last.previous_version, last.model_version, last.actor) == (new, old, "oncall")
    assert last.reason.startswith("rollback: conversion dropped after release")
    assert f"{FUNCTION}:live Lambda version {versions[1]} -> {versions[0]}" in last.reason


def test_rollback_cuts_off_an_in_flight_canary(aws, registry, promoted):
    # Given CodeDeploy mid-canary: live on A's version with 10% weighted to B's, deployment d-1 running
    old, new = promoted
    versions = create_prediction_function(FUNCTION, [old, new])
    boto3.client("lambda").update_alias(
        FunctionName=FUNCTION,
        Name="live",
        FunctionVersion=versions[0],
        RoutingConfig={"AdditionalVersionWeights": {versions[1]: 0.1}},
    )
    # (moto has no StopDeployment: CodeDeploy is a botocore Stubber that insists on the exact calls)
    codedeploy = boto3.client("codedeploy")
    stubber = Stubber(codedeploy)
    stubber.add_response(
        "list_deployments",
        {"deployments": ["d-1"]},
        {
            "applicationName": FUNCTION,
            "deploymentGroupName": f"{FUNCTION}-live",
            "includeOnlyStatuses": ["Created", "Queued", "InProgress", "Baking", "Ready"],
        },
    )
    stubber.add_response(
        "stop_deployment", {"status": "Pending"}, {"deploymentId": "d-1", "autoRollbackEnabled": False}
    )

    # When the operator rolls back
    with stubber:
        result = rollback(
            registry,
            Boto3LambdaVersions(),
            "v1",
            FUNCTION,
            reason="canary errors",
            deployments=Boto3Deployments(client=codedeploy),
        )
    stubber.assert_no_pending_responses()

    # Then the rollout is stopped (it cannot shift live again) and all traffic goes to A's version
    alias = live_alias(FUNCTION)
    assert alias["FunctionVersion"] == versions[0]
    assert not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert result.had_canary and result.stopped_deployments == ["d-1"]
    assert registry.alias("v1", "champion") == old


class BrokenDeployments(Deployments):
    """CodeDeploy refusing (e.g. a missing permission)."""

    def stop_in_flight(self, function: str, alias: str) -> list[str]:
        raise RuntimeError("AccessDenied: codedeploy:ListDeployments")


def test_a_codedeploy_failure_never_blocks_the_alias_move(aws, registry, promoted):
    # Given CodeDeploy calls that fail
    old, new = promoted
    versions = create_prediction_function(FUNCTION, [old, new])

    # When the operator rolls back
    result = rollback(
        registry, Boto3LambdaVersions(), "v1", FUNCTION, reason="errors", deployments=BrokenDeployments()
    )

    # Then live is rolled back anyway, and the failure is reported
    assert live_alias(FUNCTION)["FunctionVersion"] == versions[0]
    assert registry.alias("v1", "champion") == old
    assert result.warnings and "AccessDenied" in result.warnings[0]


def test_rollback_refuses_when_no_published_version_serves_the_previous_model(aws, registry, promoted):
    # Given a function that was only ever published with B
    old, new = promoted
    versions = create_prediction_function(FUNCTION, [new])

    # When a rollback is attempted, it refuses and changes nothing
    with pytest.raises(PromotionError, match=f"no published version of {FUNCTION} serves model {old}"):
        rollback(registry, Boto3LambdaVersions(), "v1", FUNCTION, reason="bad")
    assert live_alias(FUNCTION)["FunctionVersion"] == versions[0]
    assert registry.alias("v1", "champion") == new


def test_a_second_rollback_needs_an_explicit_target(aws, registry, promoted):
    # Given a rollback already done
    old, new = promoted
    versions = create_prediction_function(FUNCTION, [old, new])
    rollback(registry, Boto3LambdaVersions(), "v1", FUNCTION, reason="first")

    # When rolling back again without saying where to, it refuses (it would re-ship B)
    with pytest.raises(PromotionError, match="already a rollback"):
        rollback(registry, Boto3LambdaVersions(), "v1", FUNCTION, reason="again")

    # Then an explicit target rolls forward
    result = rollback(
        registry, Boto3LambdaVersions(), "v1", FUNCTION, reason="fixed upstream", to_version=new
    )
    assert live_alias(FUNCTION)["FunctionVersion"] == versions[1] == result.to_lambda_version
    assert registry.alias("v1", "champion") == new


def test_model_versions_map_to_their_newest_lambda_version():
    # Given versions published for A twice (a code change) and a derived A-copy
    versions = {
        "1": "v1-aaa",
        "2": "v1-bbb",
        "3": "v1-aaa",
        "4": "v1-aaa-copy",
        "5": "Propensity model v1-bbb",
    }

    # Then each model maps to its newest own version, never to a longer name that contains it
    assert lambda_version_of(versions, "v1-aaa") == "3"
    assert lambda_version_of(versions, "v1-bbb") == "5"
    assert lambda_version_of(versions, "v1-ccc") is None


def test_rollback_command_does_it_in_one_step(aws, registry, promoted, capsys):
    # Given prod's v1 function serving B after A
    old, new = promoted
    versions = create_prediction_function(FUNCTION, [old, new])

    # When the one command runs
    code = main(
        [
            "rollback",
            "--api",
            "v1",
            "--stage",
            "prod",
            "--registry",
            registry.store.location,
            "--reason",
            "PagerDuty: error rate",
        ]
    )

    # Then live and champion are back on A, and the output says what happened
    out = capsys.readouterr().out
    assert code == 0
    assert live_alias(FUNCTION)["FunctionVersion"] == versions[0]
    assert registry.alias("v1", "champion") == old
    assert f"now serves Lambda version {versions[0]} (model {old})" in out
    assert f"registry champion: {new} -> {old}" in out
