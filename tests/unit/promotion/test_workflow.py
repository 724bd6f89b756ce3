"""The registry-side rules of promotion: what the gate verdicts allow and refuse.

Verdicts are appended as the gate records them (``ValidationRecord``); the gate itself is
tested in tests/unit/gate on real challengers.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from propensity.bundle.manifest import ValidationRecord
from propensity.promotion.workflow import PromotionError, approve, promote, set_challenger
from tests.unit.gate.challengers import derive_bundle


@pytest.fixture
def candidate(registry, bundles, bank_data, tmp_path):
    """A registered v1 model that is not champion yet."""
    bundle = derive_bundle(bundles["v1"], bank_data, tmp_path, "candidate")
    registry.register(bundle.path)
    return bundle.version


def record(registry, version, *, passed, against, failures=()):
    """Append a gate verdict to a registered model's manifest, as ``record_verdict`` does."""
    manifest = registry.manifest("v1", version)
    verdict = ValidationRecord(
        passed=passed,
        champion_version=against,
        at=datetime.now(UTC),
        report={"failures": [{"name": name} for name in failures]},
    )
    registry.update_manifest(manifest.model_copy(update={"validation": [*manifest.validation, verdict]}))


@pytest.mark.realdata
def test_promotion_needs_a_passing_verdict_against_the_current_champion(registry, candidate):
    champion = registry.alias("v1", "champion")

    # Given a model never gated: refused
    with pytest.raises(PromotionError, match="never been through the gate"):
        promote(registry, "v1", candidate, reason="r")

    # Given a failed verdict: refused, with the reasons
    record(
        registry, candidate, passed=False, against=champion, failures=["job=retired: roc_auc >= floor 0.65"]
    )
    with pytest.raises(PromotionError, match="failed the gate .*job=retired"):
        promote(registry, "v1", candidate, reason="r")

    # Given a pass against a champion that has since been replaced: refused, gate again
    record(registry, candidate, passed=True, against="v1-someone-else")
    with pytest.raises(PromotionError, match="run `propensity gate"):
        promote(registry, "v1", candidate, reason="r")
    assert registry.alias("v1", "champion") == champion

    # When it passes against the current champion and is shadowed, promotion goes through
    record(registry, candidate, passed=True, against=champion)
    set_challenger(registry, "v1", candidate, reason="shadow")
    result = promote(registry, "v1", candidate, reason="better", actor="ada")

    # Then champion moved (who and why recorded) and the challenger alias was cleared
    assert (result.previous_champion, result.champion, result.challenger_cleared) == (
        champion,
        candidate,
        True,
    )
    assert registry.alias("v1", "champion") == candidate and registry.alias("v1", "challenger") is None
    last = registry.history("v1", "champion")[-1]
    assert (last.actor, last.reason, last.previous_version) == ("ada", "better", champion)


@pytest.mark.realdata
def test_promotion_to_a_stage_requiring_approval_refuses_an_unapproved_model(registry, candidate):
    # Given a model that passed its gate but has no approval
    record(registry, candidate, passed=True, against=registry.alias("v1", "champion"))

    # Then a stage that requires approval refuses it, and the approval unlocks it
    with pytest.raises(PromotionError, match="no approval and this stage requires one"):
        promote(registry, "v1", candidate, reason="r", require_approval=True)
    approve(registry, "v1", candidate, approver="Ada Lovelace")
    assert promote(registry, "v1", candidate, reason="r", require_approval=True).approved


@pytest.mark.realdata
def test_approvals_are_named_once_and_only_for_gated_models(registry, candidate):
    champion = registry.alias("v1", "champion")

    # Given an ungated model: no approval; an empty name: no approval
    with pytest.raises(PromotionError, match="never been through the gate"):
        approve(registry, "v1", candidate, approver="Ada Lovelace")
    record(registry, candidate, passed=True, against=champion)
    with pytest.raises(PromotionError, match="approver's name"):
        approve(registry, "v1", candidate, approver="  ")

    # When approved, then approved again by the same person
    manifest = approve(registry, "v1", candidate, approver="Ada Lovelace", note="shadow ok")
    with pytest.raises(PromotionError, match="already approved by Ada Lovelace"):
        approve(registry, "v1", candidate, approver="Ada Lovelace")

    # Then one record is kept; a second person can still approve, also after promotion
    assert [(a.approver, a.note) for a in manifest.approvals] == [("Ada Lovelace", "shadow ok")]
    promote(registry, "v1", candidate, reason="r")
    assert len(approve(registry, "v1", candidate, approver="Grace Hopper").approvals) == 2


@pytest.mark.realdata
def test_the_first_champion_can_be_approved_without_a_gate(registry):
    # Given the API version's first model, champion with no predecessor (nothing to gate against)
    champion = registry.alias("v1", "champion")

    # Then it can be approved for prod
    assert approve(registry, "v1", champion, approver="Ada Lovelace").approved


@pytest.mark.realdata
def test_challenger_alias_takes_gated_models_only(registry, candidate):
    champion = registry.alias("v1", "champion")

    # Given a failed verdict: refused, unless explicitly shadowed for diagnosis
    record(registry, candidate, passed=False, against=champion)
    with pytest.raises(PromotionError, match="failed the gate"):
        set_challenger(registry, "v1", candidate, reason="shadow")
    set_challenger(registry, "v1", candidate, reason="diagnose", allow_failed_gate=True)
    assert registry.alias("v1", "challenger") == candidate

    # And the champion can never shadow itself; clearing always works
    with pytest.raises(PromotionError, match="against itself"):
        set_challenger(registry, "v1", champion, reason="x")
    set_challenger(registry, "v1", None, reason="done")
    assert registry.alias("v1", "challenger") is None
