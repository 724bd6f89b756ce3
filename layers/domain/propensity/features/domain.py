"""The UCI Bank Marketing inputs as the v1 contract fixes them (../shared/CONTRACT-v1.md).

This is the single source for allowed values and ranges; v1 request models and the v1
feature spec are built from it, and v2 renames these fields (see ``features.v2``).
``duration`` is deliberately absent: it is only known after the call, so it leaks the label.
"""

from __future__ import annotations

from typing import Final

from propensity.features.spec import Feature, FeatureSpec

JOBS: Final = (
    "admin.",
    "blue-collar",
    "entrepreneur",
    "housemaid",
    "management",
    "retired",
    "self-employed",
    "services",
    "student",
    "technician",
    "unemployed",
    "unknown",
)
MARITAL: Final = ("married", "single", "divorced")
EDUCATION: Final = ("primary", "secondary", "tertiary", "unknown")
YES_NO: Final = ("yes", "no")
CONTACT: Final = ("cellular", "telephone", "unknown")
MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
POUTCOME: Final = ("failure", "other", "success", "unknown")

# pdays uses -1 as a "never contacted" sentinel in v1 (v2 replaces it with null).
PDAYS_NEVER: Final[int] = -1

V1_SPEC: Final = FeatureSpec(
    schema_version="v1",
    features=(
        Feature("age", "numeric", "Age in years", minimum=18, maximum=100),
        Feature("job", "categorical", "Type of job", categories=JOBS),
        Feature("marital", "categorical", "Marital status", categories=MARITAL),
        Feature("education", "categorical", "Education level", categories=EDUCATION),
        Feature("default", "categorical", "Has credit in default", categories=YES_NO),
        Feature(
            "balance", "numeric", "Average yearly balance in euros", minimum=-100_000_000, maximum=100_000_000
        ),
        Feature("housing", "categorical", "Has a housing loan", categories=YES_NO),
        Feature("loan", "categorical", "Has a personal loan", categories=YES_NO),
        Feature("contact", "categorical", "Contact communication type", categories=CONTACT),
        Feature("day", "numeric", "Day of month of the last contact", minimum=1, maximum=31),
        Feature("month", "categorical", "Month of the last contact", categories=MONTHS),
        Feature(
            "campaign", "numeric", "Contacts in this campaign, including the last", minimum=1, maximum=1000
        ),
        Feature(
            "pdays",
            "numeric",
            "Days since the previous campaign's contact; -1 if never",
            minimum=-1,
            maximum=10_000,
        ),
        Feature("previous", "numeric", "Contacts before this campaign", minimum=0, maximum=10_000),
        Feature("poutcome", "categorical", "Outcome of the previous campaign", categories=POUTCOME),
    ),
)

# Columns of bank-full.csv, in file order: the 15 inputs, the leaking duration, the target.
CSV_COLUMNS: Final = (
    "age",
    "job",
    "marital",
    "education",
    "default",
    "balance",
    "housing",
    "loan",
    "contact",
    "day",
    "month",
    "duration",
    "campaign",
    "pdays",
    "previous",
    "poutcome",
    "y",
)
TARGET: Final = "y"
