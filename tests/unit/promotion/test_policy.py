"""One policy decides every alias move: through the library and through every command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from propensity.cli import main
from propensity.promotion.lock import read_lock
from propensity.promotion.policy import PromotionError, move_alias
from propensity.promotion.workflow import promote, set_challenger
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore
from tests.evidence import record_gate, renamed_bundle

ROOT = Path(__file__).resolve().parents[3]


class Recorder:
    def __init__(self) -> None:
        self.alerts: list[tuple[str, str, dict]] = []

    def alert(self, tier, summary, details) -> None:
        self.alerts.append((tier, summary, details))


@pytest.fixture
def setup(tmp_path: Path, trained, monkeypatch):
    """A registry (champion + failed + passed-but-unapproved + never-gated) and a cdk.json whose
    prod stage ships from it and requires approval."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    root = tmp_path / "registry"
    registry = Registry(LocalBlobStore(root))
    champion = registry.register(trained["v1"].bundle_path).model_version
    registry.set_alias("v1", "champion", champion, reason="first", actor="pytest")
    versions = {}
    for name in ("failed", "passed", "ungated"):
        bundle = renamed_bundle(trained["v1"].bundle_path, tmp_path / name, f"v1-{name}")
        versions[name] = registry.register(bundle).model_version
    record_gate(registry, "v1", versions["failed"], passed=False, against=champion, failures=["roc_auc"])
    record_gate(registry, "v1", versions["passed"], passed=True, against=champion)
    cdk = json.loads((ROOT / "cdk.json").read_text())
    for pin in cdk["context"]["stages"]["prod"]["models"].values():
        pin["registry"] = str(root)
    (tmp_path / "cdk.json").write_text(json.dumps(cdk))
    return registry, champion, versions, root


def run(*argv: str) -> int:
    return main(list(argv))


def test_a_failed_or_ungated_version_cannot_become_champion_by_any_path(setup, capsys):
    registry, champion, versions, root = setup
    for bad in (versions["failed"], versions["ungated"]):
        with pytest.raises(PromotionError):
            move_alias(registry, "v1", "champion", bad, reason="try")
        with pytest.raises(PromotionError):
            registry.set_alias("v1", "champion", bad, reason="try")
        with pytest.raises(PromotionError):
            promote(registry, "v1", bad, reason="try")
        assert run("alias", "champion", bad, "--api", "v1", "--registry", str(root), "--reason", "x") == 1
        assert run("promote", bad, "--api", "v1", "--registry", str(root), "--reason", "x") == 1
    assert "failed the gate" in capsys.readouterr().err
    assert registry.alias("v1", "champion") == champion
    # nor can the champion be cleared, nor a challenger skip the gate
    with pytest.raises(PromotionError, match="cannot be cleared"):
        move_alias(registry, "v1", "champion", None, reason="x")
    with pytest.raises(PromotionError, match="has not been through the gate"):
        set_challenger(registry, "v1", versions["ungated"], reason="x")
    assert run("alias", "challenger", versions["ungated"], "--registry", str(root), "--reason", "x") == 1


def test_an_unapproved_version_cannot_become_champion_where_the_stage_requires_approval(setup, capsys):
    registry, champion, versions, root = setup
    passed = versions["passed"]
    # The library refuses when asked to require approval; the commands know it from cdk.json
    with pytest.raises(PromotionError, match="has no approval"):
        move_alias(registry, "v1", "champion", passed, reason="x", require_approval=True)
    assert run("alias", "champion", passed, "--registry", str(root), "--reason", "x") == 1
    assert run("promote", passed, "--registry", str(root), "--reason", "x", "--stage", "prod") == 1
    assert "requires an approval" in capsys.readouterr().err
    assert registry.alias("v1", "champion") == champion

    # When approved (listed one per line), promote moves it and writes prod's pin itself
    assert run("approve", passed, "--registry", str(root), "--approver", "Ada Lovelace", "--note", "ok") == 0
    assert run("approve", passed, "--registry", str(root), "--approver", "Grace Hopper") == 0
    capsys.readouterr()
    assert run("approvals", passed, "--api", "v1", "--registry", str(root)) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "Ada Lovelace" in lines[0] and "Grace Hopper" in lines[1]
    assert "reviewed: gate:" in lines[0]
    assert run("promote", passed, "--registry", str(root), "--reason", "better", "--stage", "prod") == 0
    assert registry.alias("v1", "champion") == passed
    pin = read_lock(Path("models.lock.json")).pin("prod", "v1")
    assert pin is not None and pin.model_version == passed
    assert pin.manifest_sha256 == registry.registration("v1", passed).manifest_sha256
    assert pin.approvals == ["Ada Lovelace", "Grace Hopper"]


def test_rollback_is_always_allowed_to_a_former_champion_and_local_rollback_needs_no_aws(setup, capsys):
    registry, champion, versions, root = setup
    promote(registry, "v1", versions["passed"], reason="better")
    # a version that never was champion cannot be "rolled back" to
    with pytest.raises(PromotionError, match="never the v1 champion"):
        move_alias(registry, "v1", "champion", versions["failed"], reason="x", rollback=True)
    # the local rollback moves champion back in the registry, without any AWS call, and says so
    assert run("rollback", "--api", "v1", "--registry", str(root), "--reason", "conversion fell") == 0
    out = capsys.readouterr().out
    assert "local registry only, no AWS call" in out and f"-> {champion}" in out
    last = registry.history("v1", "champion")[-1]
    assert (last.rule, last.previous_version, last.model_version) == (
        "rollback",
        versions["passed"],
        champion,
    )


def test_break_glass_moves_records_who_and_why_and_raises_a_critical_alert(setup, capsys):
    registry, _champion, versions, root = setup
    recorder = Recorder()
    move = move_alias(
        registry,
        "v1",
        "champion",
        versions["ungated"],
        reason="INC-7: hotfix",
        actor="oncall",
        break_glass=True,
        alerter=recorder,
    )
    assert move.break_glass and move.rule == "break-glass" and move.actor == "oncall"
    assert registry.history("v1", "champion")[-1].reason == "INC-7: hotfix"
    [(tier, summary, details)] = recorder.alerts
    assert tier == "critical" and "break-glass" in summary and details["reason"] == "INC-7: hotfix"
    # through the command, the alert reaches the console (no topic configured locally)
    code = run(
        "alias",
        "challenger",
        versions["failed"],
        "--registry",
        str(root),
        "--reason",
        "INC-7",
        "--break-glass",
    )
    assert code == 0 and "ALERT [critical] break-glass" in capsys.readouterr().err
    # break-glass still refuses a tampered bundle
    key = f"models/v1/{versions['passed']}/model.npz"
    registry.store.put(key, registry.store.get(key)[:-1])
    with pytest.raises(PromotionError, match=r"model\.npz"):
        move_alias(
            registry, "v1", "champion", versions["passed"], reason="x", break_glass=True, alerter=recorder
        )
    shutil.rmtree(root)
