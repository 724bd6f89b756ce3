"""Preprocessing is pure, shared by training and serving, and v2 is a faithful translation of v1."""

from __future__ import annotations

import numpy as np
import pytest

from propensity.data.loader import load_bank_marketing
from propensity.features import v1, v2
from propensity.features.domain import V1_SPEC
from propensity.features.translate import v1_columns_to_v2_flat, v1_to_v2, v1_to_v2_flat, v2_flatten, v2_to_v1
from propensity.service.v1.models import EXAMPLE_REQUEST
from propensity.training.train import flat_columns

RECORD = EXAMPLE_REQUEST  # the contract's own example


def test_v1_matrix_layout_follows_the_contract() -> None:
    x = v1.transform({k: [v] for k, v in RECORD.items()})
    row = dict(zip(v1.COLUMN_NAMES, x[0], strict=True))
    assert x.shape == (1, 6 + sum(len(f.categories) for f in V1_SPEC.of_kind("categorical")))
    assert row["age"] == 41 and row["pdays"] == -1
    assert row["job=technician"] == 1 and row["job=admin."] == 0
    assert sum(v for k, v in row.items() if k.startswith("month=")) == 1


def test_translation_of_the_contract_example() -> None:
    body = v1_to_v2(RECORD)
    assert body == {
        "customer": {"age": 41, "job": "technician", "marital_status": "married", "education": "secondary"},
        "finances": {
            "balance_eur": 1270,
            "has_credit_default": False,
            "has_housing_loan": True,
            "has_personal_loan": False,
        },
        "contact": {
            "channel": "cellular",
            "last_contact_day": 5,
            "last_contact_month": "may",
            "contacts_this_campaign": 1,
        },
        "history": {
            "days_since_previous_contact": None,
            "previous_contacts": 0,
            "previous_outcome": "unknown",
        },
    }
    assert v2_to_v1(body) == RECORD
    assert v2_flatten(body) == v1_to_v2_flat(RECORD)


def test_v2_never_contacted_is_missing_not_minus_one() -> None:
    flat = v1_to_v2_flat(RECORD)
    x = v2.transform({k: [v] for k, v in flat.items()})
    row = dict(zip(v2.COLUMN_NAMES, x[0], strict=True))
    assert np.isnan(row["days_since_previous_contact"])
    assert row["previously_contacted"] == 0
    assert row["last_contact_month_number"] == 5
    contacted = v2.transform(
        {k: [v] for k, v in v1_to_v2_flat({**RECORD, "pdays": 90, "previous": 2}).items()}
    )
    assert dict(zip(v2.COLUMN_NAMES, contacted[0], strict=True))["days_since_previous_contact"] == 90


def test_unknown_categories_become_all_zero_indicators() -> None:
    flat = {**v1_to_v2_flat(RECORD), "job": "astronaut", "last_contact_month": "sept"}
    row = dict(zip(v2.COLUMN_NAMES, v2.transform({k: [v] for k, v in flat.items()})[0], strict=True))
    assert sum(v for k, v in row.items() if k.startswith("job=")) == 0
    assert np.isnan(row["last_contact_month_number"])


def test_batch_and_single_rows_give_identical_matrices(synthetic_csv) -> None:
    # Serving scores one row (or a batch) with the same function training used on all rows.
    data = load_bank_marketing(synthetic_csv, expected_sha256=None)
    for api in ("v1", "v2"):
        columns = flat_columns(data, api)
        transform = v1.transform if api == "v1" else v2.transform
        whole = transform(columns)
        for i in (0, 17, 2999):
            single = transform({k: [vals[i]] for k, vals in columns.items()})
            assert np.array_equal(single[0], whole[i], equal_nan=True)


def test_columnar_translation_matches_the_record_translator(synthetic_csv) -> None:
    data = load_bank_marketing(synthetic_csv, expected_sha256=None)
    columns = v1_columns_to_v2_flat(data.columns)
    for i, record in enumerate(data.records()[:200]):
        assert {k: v[i] for k, v in columns.items()} == v1_to_v2_flat(record)


@pytest.mark.parametrize("field", ["age", "balance", "pdays"])
def test_preprocessing_does_not_mutate_its_input(field: str) -> None:
    columns = {k: [v] for k, v in RECORD.items()}
    before = {k: list(v) for k, v in columns.items()}
    v1.transform(columns)
    assert columns == before
