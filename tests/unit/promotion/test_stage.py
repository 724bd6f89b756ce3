"""The advice printed after promote and rollback: the stage's pin, its registry, the deploy command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from propensity.promotion.stage import deploy_advice, requires_approval, stage_region

ROOT = Path(__file__).resolve().parents[3]


def _cdk_json(tmp_path: Path, pin: str, registry: str = ".local/registry") -> Path:
    path = tmp_path / "cdk.json"
    models = {"v1": {"version": pin, "registry": registry}}
    path.write_text(json.dumps({"context": {"stages": {"prod": {"models": models, "region": "eu-west-1"}}}}))
    return path


def test_a_stage_following_the_champion_alias_needs_only_a_deploy(tmp_path):
    # Given prod following the champion alias of the registry the promotion ran on
    cdk_json = _cdk_json(tmp_path, "champion")

    # When advice is asked for the new champion
    lines = deploy_advice(cdk_json, "prod", "v1", "v1-abc", str(tmp_path / ".local/registry"))

    # Then it says the next deploy ships it, and how to deploy
    assert "is 'champion': the next deploy resolves it to the registry's champion (v1-abc)" in lines[0]
    assert lines[-1].startswith("Then deploy: `npx cdk deploy --all -c stage=prod`")
    assert not any("publish it there" in line for line in lines)


def test_an_explicit_pin_must_be_changed(tmp_path):
    # Given prod pinned to an older version
    cdk_json = _cdk_json(tmp_path, "v1-old")

    # Then the advice names the exact setting to change
    lines = deploy_advice(cdk_json, "prod", "v1", "v1-new")
    assert (
        lines[0]
        == f"Set {cdk_json} context.stages.prod.models.v1.version to 'v1-new' (it pins 'v1-old' now)."
    )
    assert deploy_advice(cdk_json, "prod", "v1", "v1-old")[0].endswith("already pins 'v1-old'.")


def test_a_stage_packaging_from_another_registry_is_told_to_publish_there(tmp_path):
    # Given prod packaging from the shared S3 registry while the promotion ran locally
    cdk_json = _cdk_json(tmp_path, "champion", "s3://team-registry/models")

    # Then the advice says to push there first
    lines = deploy_advice(cdk_json, "prod", "v1", "v1-abc", "/home/me/.local/registry")
    assert (
        "propensity registry push --registry /home/me/.local/registry --remote s3://team-registry/models"
        in lines[0]
    )


def test_the_repository_stages_say_which_one_needs_approval_and_where_it_runs():
    # Given the repository's cdk.json
    cdk_json = ROOT / "cdk.json"

    # Then prod requires approval and dev does not; both name their region
    assert requires_approval(cdk_json, "prod") and not requires_approval(cdk_json, "dev")
    assert stage_region(cdk_json, "prod") == "eu-west-1"
    with pytest.raises(ValueError, match="no stage 'staging'"):
        requires_approval(cdk_json, "staging")
