"""A batch's JSON, its results and its PredictionEvent lines, each encoded in one msgspec call.

A batch of 1,000 answers with 1,000 results (about 170 KB) and writes 1,000 event lines (about
780 KB). ``%`` templates filled column by column cost about 1 ms for the results and 3.8 ms
for the event lines (2.4 of them the substitutions, 1.4 finding each column's JSON form);
msgspec builds one small struct per record from the columns (positionally, in C) and writes
them all in one ``encode_lines`` call: about 0.4 and 1.3 ms. Imported on the first batch, so
a cold start answering a single request does not import msgspec.

What differs from the encoder's text, and why it does not matter: numbers are written in
msgspec's shortest form (``0.0000123`` rather than ``1.23e-05``: the same float), and keys
come in the struct's order. A line reads back as the same ``PredictionEvent`` and a result
as the same values (the tests compare both writers value by value). Non-ASCII text is
escaped (``\\u00e9``) as the encoder does, so a line holds no character a log pipeline could
take for a line break (U+2028) and stays one CloudWatch log event.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import repeat
from typing import Any, Final

import msgspec

from propensity.constants import EVENT_LOG_MARKER, EVENT_SCHEMA_VERSION

# The request's fields every line carries. Those with a default are left out of a line when
# at it (omit_defaults), as the encoder's writer leaves them out; PredictionEvent reads them
# back as that default.
_REQUIRED_SHARED: Final = ("request_id", "timestamp", "api_version", "model_version", "threshold", "latency")
_OPTIONAL_SHARED: Final = (("consumer", None), ("batch_size", 1), ("synthetic", False), ("experiment", None),
                           ("arm", None))  # fmt: skip
_ENCODER: Final = msgspec.json.Encoder()


@lru_cache(maxsize=8)
def _line_types(feature_names: tuple[str, ...]) -> tuple[Any, Any]:
    """The structs of one event line and of its ``features`` (in the model's order)."""
    # gc=False: these structs hold only scalars and a list of strings, never a cycle, so the
    # collector need not track the 2,000 a batch makes.
    features = msgspec.defstruct("EventFeatures", [(name, object) for name in feature_names], gc=False)
    line = msgspec.defstruct(
        "EventLine",
        [
            ("event", str),
            ("schema_version", int),
            ("prediction_id", str),
            ("probability", float),
            ("decision", str),
            ("confidence", str),
            ("features", features),
            *((name, object) for name in _REQUIRED_SHARED),
            ("customer_ref", object, None),
            ("warnings", object, None),
            *((name, object, default) for name, default in _OPTIONAL_SHARED),
        ],
        omit_defaults=True,
        gc=False,
    )
    return line, features


def encoded_lines(
    prediction_ids: Sequence[str],
    features: Mapping[str, Sequence[Any]],
    probabilities: Sequence[float],
    decisions: Sequence[str],
    bands: Sequence[str],
    warnings: Sequence[list[str]],
    customer_refs: Sequence[str | None],
    shared: Mapping[str, Any],
) -> str:
    """One compact PredictionEvent JSON line per record, each ending in a newline; ``shared``
    holds the request's fields (the required ones always; the optional ones when set)."""
    line_type, features_type = _line_types(tuple(features))
    feature_rows = list(map(features_type, *features.values()))
    lines = list(
        map(
            line_type,
            repeat(EVENT_LOG_MARKER),
            repeat(EVENT_SCHEMA_VERSION),
            prediction_ids,
            probabilities,
            decisions,
            bands,
            feature_rows,
            *(repeat(shared[name]) for name in _REQUIRED_SHARED),
            customer_refs,
            [w or None for w in warnings],
            *(repeat(shared.get(name, default)) for name, default in _OPTIONAL_SHARED),
        )
    )
    return _ascii_lines(lines)


# One scored record's result (the v2 batch response's ``results`` item); model_version and arm
# only under an experiment.
_Result: Final[Any] = msgspec.defstruct(
    "BatchResult",
    [
        ("index", int),
        ("prediction_id", str),
        ("probability", float),
        ("decision", str),
        ("confidence", str),
        ("warnings", object),
        ("model_version", object, None),
        ("arm", object, None),
    ],
    omit_defaults=True,
    gc=False,
)


def result_texts(
    indices: Sequence[int],
    prediction_ids: Sequence[str],
    probabilities: Sequence[float],
    decisions: Sequence[str],
    bands: Sequence[str],
    warnings: Sequence[list[str]],
    model_version: str | None = None,
    arm: str | None = None,
) -> list[str]:
    """Each scored record's result as compact JSON text. A probability that is not finite is a
    bug (``ValueError``: the request fails with a 500), never an answer."""
    if not all(map(math.isfinite, probabilities)):
        raise ValueError("Out of range float values are not JSON compliant")
    results = list(
        map(
            _Result,
            indices,
            prediction_ids,
            probabilities,
            decisions,
            bands,
            warnings,
            repeat(model_version),
            repeat(arm),
        )
    )
    return _ascii_lines(results).split("\n")[:-1]


def _ascii_lines(items: list[Any]) -> str:
    text = _ENCODER.encode_lines(items)
    if not text.isascii():
        text = _ascii_escaped(text.decode())
    return text.decode("ascii")


_NON_ASCII: Final = re.compile(r"[^\x00-\x7f]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the BMP: a UTF-16 surrogate pair, as JSON writes it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _ascii_escaped(text: str) -> bytes:
    """JSON text with every non-ASCII character written as its ``\\u`` escape. msgspec writes
    them as UTF-8, and in JSON they occur only inside strings, where the escape means the same."""
    return _NON_ASCII.sub(_escape, text).encode("ascii")
