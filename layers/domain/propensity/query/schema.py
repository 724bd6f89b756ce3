"""The two tables the monitoring queries read, derived from the stored shapes (the one source).

``predictions`` has one column per PredictionEvent field plus the partition ``dt`` (the
archive hour, ``yyyy/MM/dd/HH``); ``outcomes`` one column per accepted ``Outcome`` field. The
Glue tables in infra and the DuckDB views over local files are both rendered from here, so a
query sees the same columns and types on either engine.

Timestamps and dates stay ISO strings (the JSON SerDe cannot parse "...Z"); every writer
stores them in UTC, so comparing their text compares the instants.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from propensity.events import PredictionEvent
from propensity.features.schemas import SPECS
from propensity.features.spec import FeatureKind
from propensity.labels.models import Outcome

PREDICTIONS_TABLE = "predictions"
OUTCOMES_TABLE = "outcomes"
PARTITION_COLUMN = "dt"
PARTITION_FORMAT = "%Y/%m/%d/%H"  # the archive's folder layout, and the Glue projection's format

# Numbers are doubles: a v2 amount may carry cents, and an integer column would null them.
_FEATURE_TYPES: dict[FeatureKind, str] = {"numeric": "double", "categorical": "string", "boolean": "boolean"}
_SIMPLE = {str: "string", int: "bigint", float: "double", bool: "boolean"}


def feature_types() -> dict[str, str]:
    """Every feature name of every API version with its column type (a name means the same in each)."""
    fields: dict[str, str] = {}
    for spec in SPECS.values():
        for feature in spec.features:
            fields.setdefault(feature.name, _FEATURE_TYPES[feature.kind])
    return fields


def hive_type(annotation: Any, name: str = "") -> str:
    """The Hive (Glue) type of a pydantic field annotation."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        members = [a for a in get_args(annotation) if a is not NoneType]
        return hive_type(members[0], name)
    if origin is Literal:
        return "string"
    if origin is list:
        return f"array<{hive_type(get_args(annotation)[0], name)}>"
    if origin is dict and name == "features":
        return "struct<" + ",".join(f"{n}:{t}" for n, t in feature_types().items()) + ">"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        inner = ",".join(f"{n}:{hive_type(f.annotation, n)}" for n, f in annotation.model_fields.items())
        return f"struct<{inner}>"
    if origin is Annotated:
        return hive_type(get_args(annotation)[0], name)
    return _SIMPLE.get(annotation, "string")


@dataclass(frozen=True)
class Column:
    name: str
    hive: str
    comment: str | None = None


def _columns(model: type[BaseModel]) -> tuple[Column, ...]:
    return tuple(
        Column(name, hive_type(field.annotation, name), field.description)
        for name, field in model.model_fields.items()
    )


PREDICTION_COLUMNS: tuple[Column, ...] = _columns(PredictionEvent)
OUTCOME_COLUMNS: tuple[Column, ...] = _columns(Outcome)


def duckdb_type(hive: str) -> str:
    """The DuckDB spelling of a Hive type (``struct<a:double>`` -> ``STRUCT("a" DOUBLE)``)."""
    if hive.startswith("array<"):
        return duckdb_type(hive[len("array<") : -1]) + "[]"
    if hive.startswith("struct<"):
        fields, depth, current = [], 0, ""
        for char in hive[len("struct<") : -1]:
            if char == "," and depth == 0:
                fields.append(current)
                current = ""
                continue
            depth += char == "<"
            depth -= char == ">"
            current += char
        fields.append(current)
        inner = ", ".join(f'"{f.split(":", 1)[0]}" {duckdb_type(f.split(":", 1)[1])}' for f in fields)
        return f"STRUCT({inner})"
    return {"string": "VARCHAR", "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN"}[hive]
