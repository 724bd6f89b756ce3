"""Request limits: the JSON parser's refusals and the two depth checks agreeing with each other."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from propensity.service.core.errors import MalformedRequestError
from propensity.service.core.limits import _deeper_than, _max_depth, parse_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='ab[]{}"\\\n\t é'),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(alphabet='k[]{"\\'), children, max_size=3)
    ),
    max_leaves=25,
)


def walked_depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((walked_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((walked_depth(v) for v in value), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_byte_scan_and_walk_agree_on_depth(value: object):
    # Given any JSON document (strings full of brackets, quotes and escapes)
    body = json.dumps(value).encode()
    depth = walked_depth(value)
    # Then the byte scanner measures the same depth, and the walk draws the same line
    assert _max_depth(body) == depth
    for limit in (1, 2, 3, 8):
        assert _deeper_than(value, limit) == (depth > limit)


@pytest.mark.parametrize("text", ['{"a": NaN}', "[Infinity]", '{"a": -Infinity}'])
def test_non_finite_constants_are_refused(text: str):
    with pytest.raises(MalformedRequestError, match="not a valid JSON number"):
        parse_json(text.encode())


@pytest.mark.parametrize(
    "text", ['{"a": 1, "a": 2}', '{"records": [{"b": {"c": 1, "c": 1}}]}', '[{"x": 1}, {"y": 2, "y": 2}]']
)
def test_duplicate_keys_are_refused_at_any_depth(text: str):
    # JSON leaves duplicates undefined and Python would keep the last one silently: refuse instead.
    with pytest.raises(MalformedRequestError, match="twice"):
        parse_json(text.encode())


def test_equal_keys_in_different_objects_are_fine():
    assert parse_json(b'[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]
