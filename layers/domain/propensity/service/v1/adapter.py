"""v1 preprocessing adapter: a request body in, the flat v1 record (as the model sees it) out.

The v1 record is the contract's body as is: the v1 model was trained on exactly these
fields, with ``pdays = -1`` for "never contacted".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from pydantic import ValidationError

from propensity.features.domain import V1_SPEC
from propensity.service import metric_names
from propensity.service.core.errors import RequestInvalidError
from propensity.service.v1.models import V1PredictRequest

FEATURE_NAMES: Final[tuple[str, ...]] = V1_SPEC.names
_FIELDS: Final = frozenset(FEATURE_NAMES)


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


def to_record(document: Any) -> dict[str, Any]:
    """Validate a v1 body against the contract; the flat v1 record, or ``RequestInvalidError`` (422)."""
    try:
        return V1PredictRequest.model_validate(document).model_dump()
    except ValidationError as error:
        errors = error.errors(include_url=False)
        raise RequestInvalidError(detail_items(errors), [error_field(e) for e in errors]) from None
