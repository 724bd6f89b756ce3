"""v1 preprocessing adapter: a request body in, the flat v1 record (as the model sees it) out.

The v1 record is the contract's body as is: the v1 model was trained on exactly these
fields, with ``pdays = -1`` for "never contacted".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from pydantic import ValidationError

from propensity.features import v2
from propensity.features.domain import V1_SPEC
from propensity.service import metric_names
from propensity.service.core.errors import RequestInvalidError
from propensity.service.v1.models import V1PredictRequest
from propensity.service.v2.models import BLANKS, MAX_CATEGORY_LENGTH, NOT_ONLY_BLANKS

FEATURE_NAMES: Final[tuple[str, ...]] = V1_SPEC.names
_FIELDS: Final = frozenset(FEATURE_NAMES)
# v1 categorical fields that stay categorical in v2, where an unknown value is scored as
# unknown with a warning: /v2/translate carries such a value over instead of refusing it.
_OPEN_IN_V2: Final = frozenset(
    m.v1_name for m in v2.FIELD_MAP if m.conversion == "same" and v2.SPEC[m.flat_name].kind == "categorical"
)
BLANK_MESSAGE: Final[str] = "must not be blank: send the category (an unknown one is scored as unknown in v2)"


def error_field(error: Any) -> str:
    """The bounded metric label of one pydantic error of a v1 body."""
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        return metric_names.UNEXPECTED_FIELD
    if loc and loc[0] in _FIELDS:
        return str(loc[0])
    return metric_names.WHOLE_BODY


def detail_items(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic errors as FastAPI's 422 items (``loc`` starts with ``"body"``)."""
    items = []
    for error in errors:
        message = "the body must be a JSON object" if error["type"] == "model_type" else error["msg"]
        items.append({"loc": ["body", *error["loc"]], "msg": message, "type": error["type"]})
    return items


def to_translatable(document: Any) -> tuple[dict[str, Any], list[str]]:
    """A v1 body for ``/v2/translate``: as ``to_record``, except that an unknown category of a
    field that stays categorical in v2 is carried over (trimmed) with a warning."""
    try:
        return V1PredictRequest.model_validate(document).model_dump(), []
    except ValidationError as error:
        errors = error.errors(include_url=False)
    unknown = {
        e["loc"][0]
        for e in errors
        if e["type"] == "literal_error"
        and len(e["loc"]) == 1
        and e["loc"][0] in _OPEN_IN_V2
        and isinstance(e["input"], str)
        and 0 < len(e["input"].strip(BLANKS)) <= MAX_CATEGORY_LENGTH  # what v2 accepts
    }
    if len(unknown) != len(errors):
        items = detail_items(errors)
        for item, e in zip(items, errors, strict=True):
            if e["type"] == "literal_error" and isinstance(e["input"], str) and not e["input"].strip(BLANKS):
                item["msg"] = BLANK_MESSAGE
        raise RequestInvalidError(items, [error_field(e) for e in errors])
    record = {name: document[name] for name in FEATURE_NAMES}
    warnings = []
    for name in sorted(unknown):
        record[name] = record[name].strip(BLANKS)
        # ascii(): the warning also travels in a header (no quotes, newlines or non-Latin-1).
        shown = ascii(record[name]).replace('"', "'")
        warnings.append(f"{name}: unknown category {shown}, carried over (v2 scores it as unknown)")
    return record, warnings


TRANSLATE_REQUEST: Final[str] = "V1TranslateRequest"


def document_translate_request(components: dict[str, Any]) -> None:
    """OpenAPI patch: ``/v2/translate`` takes a v1 body whose open categories are any short string."""
    schema = json.loads(json.dumps(components["V1PredictRequest"]))
    schema["title"] = TRANSLATE_REQUEST
    schema["description"] = (
        "A v1 body; a category v1 does not know is carried over (v2 scores it as unknown) "
        "for the fields that stay categorical in v2."
    )
    for name in _OPEN_IN_V2:
        known = ", ".join(V1_SPEC[name].categories)
        schema["properties"][name] = {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_CATEGORY_LENGTH,
            "pattern": NOT_ONLY_BLANKS,
            "description": f"{V1_SPEC[name].description}. Known: {known}; others are carried over.",
        }
    components[TRANSLATE_REQUEST] = schema


def to_record(document: Any) -> dict[str, Any]:
    """Validate a v1 body against the contract; the flat v1 record, or ``RequestInvalidError`` (422)."""
    try:
        return V1PredictRequest.model_validate(document).model_dump()
    except ValidationError as error:
        errors = error.errors(include_url=False)
        raise RequestInvalidError(detail_items(errors), [error_field(e) for e in errors]) from None
