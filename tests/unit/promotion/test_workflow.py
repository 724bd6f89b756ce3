"""The registry-side rules of promotion: what the gate verdicts allow and refuse.

Verdicts are sealed gate records, written as the gate writes them (``tests.evidence``); the
gate itself is tested in tests/unit/gate on real challengers.
"""

from __future__ import annotations

import pytest

from propensity.promotion.approvals import approvals
from propensity.promotion.workflow import PromotionError, approve, promote, set_challenger
from tests.evidence import record_gate
from tests.unit.gate.challengers import derive_bundle


@pytest.fixture
def candidate(registry, bundles, bank_data, tmp_path):
    """A registered v1 model that is not champion yet."""
    bundle = derive_bundle(bundles["v1"], bank_data, tmp_path, "candidate")
    registry.register(bundle.path)
    return bundle.version


def record(registry, version, *, passed, against, failures=()):
    """A gate verdict of a registered model, as ``record_verdict`` writes it."""
    record_gate(registry, "v1", version, passed=passed, against=against, failures=failures)


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

    # Given a later pass against another champion: it does not count, the failure against the
    # current one still stands
    record(registry, candidate, passed=True, against="v1-someone-else")
    with pytest.raises(PromotionError, match="failed the gate against"):
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
    with pytest.raises(PromotionError, match="has no approval; this stage requires an approval"):
        promote(registry, "v1", candidate, reason="r", require_approval=True)
    approve(registry, "v1", candidate, approver="Ada Lovelace")
    assert promote(registry, "v1", candidate, reason="r", require_approval=True).approved


@pytest.mark.realdata
def test_approvals_are_named_once_and_only_for_gated_models(registry, candidate):
    champion = registry.alias("v1", "champion")

    # Given an ungated model: no approval; an empty name: no approval
    with pytest.raises(PromotionError, match="has not passed the gate against the champion"):
        approve(registry, "v1", candidate, approver="Ada Lovelace")
    record(registry, candidate, passed=True, against=champion)
    with pytest.raises(PromotionError, match="approver's name"):
        approve(registry, "v1", candidate, approver="  ")

    # When approved, then approved again by the same person
    approval = approve(registry, "v1", candidate, approver="Ada Lovelace", note="shadow ok")
    with pytest.raises(PromotionError, match="already approved by ada lovelace"):
        approve(registry, "v1", candidate, approver=" ada lovelace ")  # the same person, spelt otherwise

    # Then one record is kept, naming the gate record it relied on; a second person can still
    # approve, also after promotion
    assert [(a.approver, a.note) for a in approvals(registry, "v1", candidate)] == [
        ("Ada Lovelace", "shadow ok")
    ]
    assert approval.reviewed[0].startswith("gate:")
    promote(registry, "v1", candidate, reason="r")
    approve(registry, "v1", candidate, approver="Grace Hopper")
    assert len(approvals(registry, "v1", candidate)) == 2


@pytest.mark.realdata
def test_the_first_champion_can_be_approved_without_a_gate(registry):
    # Given the API version's first model, champion with no predecessor (nothing to gate against)
    champion = registry.alias("v1", "champion")

    # Then it can be approved for prod
    approve(registry, "v1", champion, approver="Ada Lovelace")
    assert [a.approver for a in approvals(registry, "v1", champion)] == ["Ada Lovelace"]


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
