"""v1 to v2: the translator consumers use to migrate, and v2 nested to flat.

Both follow ``features.v2.FIELD_MAP``; nothing here lists fields by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from propensity.features.domain import PDAYS_NEVER
from propensity.features.v2 import FIELD_MAP, GROUPS, FieldMapping


def _convert(mapping: FieldMapping, value: Any) -> Any:
    if mapping.conversion == "yes_no_to_bool":
        return value == "yes"
    if mapping.conversion == "minus_one_to_null":
        return None if value == PDAYS_NEVER else value
    return value


def v1_to_v2(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Turn a v1 request body into the equivalent nested v2 request body.

    The v1 record is expected to be valid against the v1 contract; missing fields raise
    ``KeyError`` naming the field (the API validates first and reports 422).
    """
    payload: dict[str, dict[str, Any]] = {group: {} for group in GROUPS}
    for mapping in FIELD_MAP:
        payload[mapping.group][mapping.v2_name] = _convert(mapping, record[mapping.v1_name])
    return payload


def v1_to_v2_flat(record: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a v1 record into the flat v2 record the v2 model consumes."""
    return {m.flat_name: _convert(m, record[m.v1_name]) for m in FIELD_MAP}


def v2_flatten(payload: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Flatten a nested v2 body (already validated) into the flat v2 record."""
    return {m.flat_name: payload[m.group][m.v2_name] for m in FIELD_MAP}


def v1_columns_to_v2_flat(columns: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Columnar version of ``v1_to_v2_flat`` (training converts the whole data set at once)."""
    return {m.flat_name: [_convert(m, v) for v in columns[m.v1_name]] for m in FIELD_MAP}


def v2_to_v1(payload: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The inverse of ``v1_to_v2`` for payloads that came from v1 (used in round-trip tests)."""
    record: dict[str, Any] = {}
    for m in FIELD_MAP:
        value = payload[m.group][m.v2_name]
        if m.conversion == "yes_no_to_bool":
            value = "yes" if value else "no"
        elif m.conversion == "minus_one_to_null":
            value = PDAYS_NEVER if value is None else value
        record[m.v1_name] = value
    return record
