"""A feature's fixed bins from the reference, and counting raw values into them."""

from __future__ import annotations

import pytest

from propensity.drift.bins import MISSING, UNSEEN, FeatureBins
from propensity.features.schemas import SPECS
from propensity.features.spec import Feature
from propensity.monitoring.reference import CategoricalReference, NumericReference

AGE = Feature("age", "numeric", "Age in years", minimum=18, maximum=100)
HISTORY = SPECS["v2"]["days_since_previous_contact"]


def test_numeric_bins_use_the_reference_edges_and_a_missing_bin():
    # Given a reference with edges 30 and 50 and 10% missing values
    reference = NumericReference(edges=[30.0, 50.0], proportions=[0.2, 0.5, 0.3], missing_share=0.1)
    # When its bins are built
    bins = FeatureBins.from_reference(AGE, reference)
    # Then labels follow the edges (values equal to an edge belong to the lower bin) and shares
    # are rescaled so that, with the missing bin, they sum to 1
    assert bins.labels == ("<= 30", "(30, 50]", "> 50", MISSING)
    assert bins.reference == pytest.approx((0.18, 0.45, 0.27, 0.1))
    assert sum(bins.reference) == pytest.approx(1.0)


def test_numeric_values_are_binned_like_the_reference_and_bad_ones_counted():
    reference = NumericReference(edges=[30.0, 50.0], proportions=[0.2, 0.5, 0.3])
    bins = FeatureBins.from_reference(AGE, reference)
    # Given raw value counts: 30 sits on an edge, 101 is out of range, "x" is not a number,
    # None is missing (age is not nullable)
    counted = bins.count({18: 2, 30: 1, 31: 3, 50: 1, 51: 4, 101: 1, "x": 5, None: 2, True: 1})
    # Then edge values go to the lower bin, out-of-range values are binned and flagged invalid,
    # non-numbers are invalid and not binned, missing values fill the missing bin
    assert counted.counts == [3, 4, 5, 2]
    assert counted.invalid == 1 + 5 + 2 + 1
    assert counted.unseen_values == {}


def test_nullable_numeric_missing_values_are_not_invalid():
    # Given v2's nullable history field, mostly null (never contacted before)
    reference = NumericReference(edges=[100.0, 200.0], proportions=[0.3, 0.3, 0.4], missing_share=0.8)
    bins = FeatureBins.from_reference(HISTORY, reference)
    # When a window with 8 nulls and 2 values is counted
    counted = bins.count({None: 8, 90: 1, 250: 1})
    # Then nulls count in the missing bin and are not validation failures
    assert counted.counts == [1, 0, 1, 8]
    assert counted.invalid == 0
    assert bins.reference[-1] == pytest.approx(0.8)


def test_categorical_unseen_values_are_counted_and_named():
    feature = SPECS["v2"]["job"]
    reference = CategoricalReference(proportions={c: 1 / len(feature.categories) for c in feature.categories})
    bins = FeatureBins.from_reference(feature, reference)
    # When v2 traffic carries a job the schema never had
    counted = bins.count({"admin.": 5, "astronaut": 3, "unknown": 1})
    # Then it lands in the unseen bin, by name
    assert bins.labels[-1] == UNSEEN
    assert counted.counts[bins.labels.index("admin.")] == 5
    assert counted.counts[-1] == 3
    assert counted.unseen_values == {"astronaut": 3}
    assert counted.invalid == 0


def test_boolean_features_count_true_and_false_and_reject_other_values():
    feature = SPECS["v2"]["has_housing_loan"]
    bins = FeatureBins.from_reference(feature, CategoricalReference(proportions={"false": 0.4, "true": 0.6}))
    counted = bins.count({True: 6, False: 3, "yes": 2})
    assert counted.counts == [3, 6, 0]
    assert counted.invalid == 2


def test_unseen_values_are_counted_without_case():
    # Given v2 traffic sending the same unknown job in two spellings (v2 keeps values as sent)
    feature = SPECS["v2"]["job"]
    reference = CategoricalReference(proportions={c: 1 / len(feature.categories) for c in feature.categories})
    counted = FeatureBins.from_reference(feature, reference).count(
        {"Astronaut": 2, "astronaut": 3, "ASTRONAUT": 1}
    )
    # Then they are one unseen value, not three
    assert counted.unseen_values == {"astronaut": 6}
    assert counted.counts[-1] == 6
