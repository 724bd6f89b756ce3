"""v2 preprocessing adapter: a nested body in; the normalised body, the flat record and warnings out.

Normalisation: categorical values are compared without case or surrounding blanks
(``" Technician"`` is ``technician``); a value still outside the known set is kept as sent
(trimmed), scored with the model's unknown handling (an all-zero one-hot row) and reported
as a warning.
The flat record follows ``features.v2.FIELD_MAP`` (as ``translate.v2_flatten`` does; the
tests check both agree).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any, Final

from pydantic import ValidationError

from propensity.features import v2
from propensity.service import metric_names
from propensity.service.core.errors import RequestInvalidError
from propensity.service.core.limits import no_key_twice
from propensity.service.v2.models import BLANKS, V2_RECORDS, V2_REQUEST

FEATURE_NAMES: Final[tuple[str, ...]] = v2.SPEC.names


# FIELD_MAP, flattened once into plain tuples (the per-record code below runs 1,000 times
# for a full batch): (group, field, flat name) for every field, in the model's order, and
# (group, field, flat name, known categories) for the categorical ones.
_FIELDS: Final = tuple((m.group, m.v2_name, m.flat_name) for m in v2.FIELD_MAP)
_CATEGORICALS: Final = tuple(
    (m.group, m.v2_name, m.flat_name, frozenset(v2.SPEC[m.flat_name].categories))
    for m in v2.FIELD_MAP
    if v2.SPEC[m.flat_name].kind == "categorical"
)
# A blank categorical value fails min_length ("") or the NOT_ONLY_BLANKS pattern ("  "): both
# get one plain message instead of pydantic's (which quotes the regex).
_CATEGORICAL_LOCS: Final = frozenset((group, name) for group, name, _, _ in _CATEGORICALS)
_BLANK_ERRORS: Final = frozenset({"string_too_short", "string_pattern_mismatch"})
# (group, field) -> bounded metric label (the flat name)
_FIELD_LABELS: Final = {(m.group, m.v2_name): m.flat_name for m in v2.FIELD_MAP}
_TOP_LEVEL: Final = frozenset((*v2.GROUPS, "customer_ref"))


@dataclass(frozen=True)
class NormalisedRecord:
    """A valid v2 record, ready to score."""

    payload: dict[str, Any]  # the nested body after normalisation
    features: dict[str, Any]  # the flat record the model sees (and the event records)
    warnings: list[str]
    unknown_fields: list[str]  # flat names of categorical fields with unknown values
    customer_ref: str | None


@dataclass(frozen=True)
class RecordErrors:
    """Why a record is invalid: FastAPI-style items and bounded metric labels."""

    items: list[dict[str, Any]]
    fields: list[str]


def error_field(error: Any) -> str:
    """The bounded metric label of one pydantic error of a v2 record."""
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        return metric_names.UNEXPECTED_FIELD
    if len(loc) >= 2 and (loc[0], loc[1]) in _FIELD_LABELS:
        return _FIELD_LABELS[(loc[0], loc[1])]
    if loc and loc[0] in _TOP_LEVEL:
        return str(loc[0])
    return metric_names.WHOLE_BODY


def detail_items(errors: Sequence[Any], prefix: Sequence[str | int]) -> list[dict[str, Any]]:
    items = []
    for error in errors:
        whole = error["type"] == "dict_type" and not error["loc"]
        if whole:
            message = "the record must be a JSON object"
        elif error["type"] in _BLANK_ERRORS and tuple(error["loc"][:2]) in _CATEGORICAL_LOCS:
            message = "must not be blank: send the category (an unknown one is scored as unknown)"
        else:
            message = error["msg"]
        items.append({"loc": [*prefix, *error["loc"]], "msg": message, "type": error["type"]})
    return items


def normalise(payload: dict[str, Any]) -> NormalisedRecord:
    """Normalise one validated v2 body (its group dicts are updated in place)."""
    payload.setdefault("customer_ref", None)
    warnings: list[str] = []
    unknown: list[str] = []
    for group_name, name, flat_name, known in _CATEGORICALS:
        group = payload[group_name]
        sent = group[name]
        if sent in known:  # already normalised: the usual case, one lookup
            continue
        value = sent.strip(BLANKS)
        lowered = value.lower()
        if lowered in known:
            value = lowered
        else:  # kept as sent (trimmed): it is what the consumer and the drift job should see
            unknown.append(flat_name)
            warnings.append(f"{group_name}.{name}: unknown category {value!r}, scored as unknown")
        group[name] = value
    features = {flat_name: payload[group_name][name] for group_name, name, flat_name in _FIELDS}
    return NormalisedRecord(payload, features, warnings, unknown, payload["customer_ref"])


def check_record(document: Any, prefix: Sequence[str | int] = ("body",)) -> NormalisedRecord | RecordErrors:
    """Validate and normalise one v2 body; errors are located under ``prefix``."""
    try:
        payload: dict[str, Any] = V2_REQUEST.validate_python(document)  # type: ignore[assignment]
    except ValidationError as error:
        errors = error.errors(include_url=False)
        return RecordErrors(detail_items(errors, prefix), [error_field(e) for e in errors])
    return normalise(payload)


@dataclass(frozen=True)
class CheckedBatch:
    """A batch's valid records as normalised columns, and the errors of the invalid ones."""

    indices: list[int]  # positions of the valid records in the request
    columns: dict[str, list[Any]]  # flat name -> normalised values of the valid records
    warnings: list[list[str]]
    customer_refs: list[str | None]
    unknown_fields: list[str]  # flat names, once per unknown value
    errors: dict[int, RecordErrors]


def check_records(
    documents: Sequence[Any], prefix: Sequence[str | int] = ("body", "records")
) -> CheckedBatch:
    """Validate a batch's records in one pydantic-core call, then normalise them column by column.

    When some records are invalid, their errors are grouped by index and the others are
    validated again in one call (pydantic returns no values once any item fails).
    """
    errors: dict[int, RecordErrors] = {}
    try:
        payloads: list[Any] = V2_RECORDS.validate_python(documents)
        indices = list(range(len(documents)))
    except ValidationError as error:
        by_index: dict[int, list[Any]] = {}
        for e in error.errors(include_url=False):
            index, *loc = e["loc"]
            by_index.setdefault(int(index), []).append({**e, "loc": tuple(loc)})
        errors = {
            i: RecordErrors(detail_items(errs, (*prefix, i)), [error_field(e) for e in errs])
            for i, errs in by_index.items()
        }
        indices = [i for i in range(len(documents)) if i not in errors]
        payloads = V2_RECORDS.validate_python([documents[i] for i in indices])
    return normalised_batch(payloads, indices, errors)


def normalised_batch(
    payloads: Sequence[Any], indices: list[int], errors: dict[int, RecordErrors]
) -> CheckedBatch:
    """Columns of validated records, normalised."""
    groups = {group: list(map(itemgetter(group), payloads)) for group in v2.GROUPS}
    columns = {flat: list(map(itemgetter(name), groups[group])) for group, name, flat in _FIELDS}
    refs: list[str | None] = list(map(dict.get, payloads, repeat("customer_ref")))
    return _normalised(columns, refs, indices, errors)


def _normalised(
    columns: dict[str, list[Any]],
    refs: list[str | None],
    indices: list[int],
    errors: dict[int, RecordErrors],
    unusual: Collection[str] | None = None,
) -> CheckedBatch:
    """Categorical columns normalised in place; one whose values are all known categories (the
    usual case) is checked with one set operation, or not at all when the caller says which
    columns hold other values (``unusual``)."""
    warnings: list[list[str]] = [[] for _ in refs]
    unknown: list[str] = []
    for group_name, name, flat_name, known in _CATEGORICALS:
        column = columns[flat_name]
        all_known = known.issuperset(column) if unusual is None else flat_name not in unusual
        if all_known:
            continue
        for k, sent in enumerate(column):
            if sent in known:
                continue
            value = sent.strip(BLANKS)
            lowered = value.lower()
            if lowered in known:
                value = lowered
            else:  # kept as sent (trimmed), as for a single record
                unknown.append(flat_name)
                warnings[k].append(f"{group_name}.{name}: unknown category {value!r}, scored as unknown")
            column[k] = value
    return CheckedBatch(indices, columns, warnings, refs, unknown, errors)


def valid_batch(body: bytes) -> CheckedBatch | None:
    """The batch, checked, when its body is valid as sent (the usual case); else ``None``.

    ``columnar.valid_columns`` decodes and checks the bytes in one msgspec pass (about 1.3 ms
    for 1,000 records, columns included), where ``json.loads`` with the duplicate-key hook,
    the depth check and ``validate_python`` took 9 ms. Anything it does not accept, and any
    body with a backslash (escapes) or a key written twice, returns ``None``: the caller then
    takes the general path (``parse_json``, ``V2BatchRequest``, ``check_records``), which
    answers every refusal with its usual message. So this path decides nothing the general
    one would decide otherwise; the tests run both on hostile bodies. A body valid here nests
    four levels deep (body, records, record, group), within ``MAX_JSON_DEPTH``.
    """
    if b"\\" in body:
        return None
    # Imported on the first batch: msgspec is the batch's decoder only (docs/performance.md).
    from propensity.service.v2.columnar import valid_columns

    valid = valid_columns(body)
    # The decoder keeps the last of two equal keys: then the counts differ, and the general
    # path refuses the body naming the key.
    if valid is None or not no_key_twice(body, valid.keys):
        return None
    indices = list(range(len(valid.customer_refs)))
    return _normalised(valid.columns, valid.customer_refs, indices, {}, valid.unusual)


def to_record(document: Any) -> NormalisedRecord:
    """Validate and normalise one v2 body, or ``RequestInvalidError`` (422)."""
    checked = check_record(document)
    if isinstance(checked, RecordErrors):
        raise RequestInvalidError(checked.items, checked.fields)
    return checked
