"""v2 schema and preprocessing: grouped, renamed fields; booleans; a nullable history.

The v2 request groups fields (customer / finances / contact / history). Once validated it is
flattened into the record below, which is what the model, the PredictionEvent and the drift
job see. ``FIELD_MAP`` is the one table that relates v1 and v2: the translator, the flat spec
and MIGRATION.md's schema table all follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from operator import is_not
from typing import Final, Literal

import numpy as np

from propensity.features import domain
from propensity.features.encoding import Columns, Matrix, boolean, n_rows, numeric, one_hot_into
from propensity.features.spec import Feature, FeatureSpec

Group = Literal["customer", "finances", "contact", "history"]
Conversion = Literal["same", "yes_no_to_bool", "minus_one_to_null"]


@dataclass(frozen=True)
class FieldMapping:
    """How one v1 field becomes one v2 field."""

    v1_name: str
    group: Group
    v2_name: str
    conversion: Conversion = "same"

    @property
    def flat_name(self) -> str:
        # Inside "contact" the short names would be ambiguous once flattened.
        return f"contact_{self.v2_name}" if self.v2_name == "channel" else self.v2_name


FIELD_MAP: Final[tuple[FieldMapping, ...]] = (
    FieldMapping("age", "customer", "age"),
    FieldMapping("job", "customer", "job"),
    FieldMapping("marital", "customer", "marital_status"),
    FieldMapping("education", "customer", "education"),
    FieldMapping("balance", "finances", "balance_eur"),
    FieldMapping("default", "finances", "has_credit_default", "yes_no_to_bool"),
    FieldMapping("housing", "finances", "has_housing_loan", "yes_no_to_bool"),
    FieldMapping("loan", "finances", "has_personal_loan", "yes_no_to_bool"),
    FieldMapping("contact", "contact", "channel"),
    FieldMapping("day", "contact", "last_contact_day"),
    FieldMapping("month", "contact", "last_contact_month"),
    FieldMapping("campaign", "contact", "contacts_this_campaign"),
    FieldMapping("pdays", "history", "days_since_previous_contact", "minus_one_to_null"),
    FieldMapping("previous", "history", "previous_contacts"),
    FieldMapping("poutcome", "history", "previous_outcome"),
)
GROUPS: Final[tuple[Group, ...]] = ("customer", "finances", "contact", "history")


def _v2_feature(mapping: FieldMapping) -> Feature:
    source = domain.V1_SPEC[mapping.v1_name]
    if mapping.conversion == "yes_no_to_bool":
        return Feature(mapping.flat_name, "boolean", source.description)
    if mapping.conversion == "minus_one_to_null":
        return Feature(
            mapping.flat_name,
            "numeric",
            "Days since the previous campaign's contact; null if never contacted",
            minimum=0,
            maximum=source.maximum,
            nullable=True,
        )
    return Feature(
        mapping.flat_name, source.kind, source.description, source.categories, source.minimum, source.maximum
    )


SPEC: Final = FeatureSpec(schema_version="v2", features=tuple(_v2_feature(m) for m in FIELD_MAP))

# Categorical fields accept values outside their known set in v2 (reported as warnings).
CATEGORICAL: Final = tuple(f.name for f in SPEC.of_kind("categorical"))
ONE_HOT: Final = ("job", "marital_status", "education", "contact_channel", "previous_outcome")
BOOLEAN: Final = tuple(f.name for f in SPEC.of_kind("boolean"))
NUMERIC: Final = (
    "age",
    "balance_eur",
    "last_contact_day",
    "contacts_this_campaign",
    "previous_contacts",
    "days_since_previous_contact",
)
MONTH_INDEX: Final = {m: float(i + 1) for i, m in enumerate(domain.MONTHS)}

COLUMN_NAMES: Final[tuple[str, ...]] = (
    NUMERIC
    + ("last_contact_month_number", "previously_contacted")
    + BOOLEAN
    + tuple(f"{name}={category}" for name in ONE_HOT for category in SPEC[name].categories)
)


def transform(columns: Columns) -> Matrix:
    """Turn flat v2 records (columnar) into the v2 model matrix, in ``COLUMN_NAMES`` order.

    Differences from v1 that matter to the model: "never contacted" is missing (NaN) rather
    than -1, with an explicit ``previously_contacted`` flag; the month is an ordinal (1-12, NaN
    when unknown) rather than twelve indicators; unknown categories are all-zero rows.
    """
    rows = n_rows(columns)
    out = np.zeros((rows, len(COLUMN_NAMES)), dtype=np.float64)
    for i, name in enumerate(NUMERIC):
        out[:, i] = numeric(columns[name])
    col = len(NUMERIC)
    out[:, col] = np.fromiter(
        map(MONTH_INDEX.get, columns["last_contact_month"], repeat(np.nan)), np.float64, rows
    )
    out[:, col + 1] = np.fromiter(
        map(is_not, columns["days_since_previous_contact"], repeat(None)), np.float64, rows
    )
    col += 2
    for name in BOOLEAN:
        out[:, col] = boolean(columns[name])
        col += 1
    for name in ONE_HOT:
        categories = SPEC[name].categories
        one_hot_into(out, col, columns[name], categories)
        col += len(categories)
    return out
