"""The batch's fast paths agree with the general ones they stand in for.

``valid_batch`` (msgspec's typed decoder, then ``columnar``'s blank check) must either decline
or give exactly what the strict parser and ``check_records`` give, and must not decline a
batch pydantic finds valid; ``keys_written`` must count the keys ``json.loads`` sees; the
batch's msgspec writers must say what the encoder says, value for value, in ASCII.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from propensity.events import PredictionEvent
from propensity.features import v2 as v2_features
from propensity.features.v2 import transform as v2_transform
from propensity.service.core.batch_json import result_texts
from propensity.service.core.errors import MalformedRequestError
from propensity.service.core.events import (
    ScoredColumns,
    ScoredRecord,
    event_lines,
    new_prediction_ids,
    shared_fields,
)
from propensity.service.core.http import RequestInfo
from propensity.service.core.limits import keys_written, no_key_twice, parse_json
from propensity.service.v2.adapter import check_records, valid_batch
from tests.service_support import v2_body

# Text that json.dumps(ensure_ascii=False) writes without a backslash: keys_written's domain.
_PLAIN = st.text(alphabet="ab:[]{}, é€", max_size=6)
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _PLAIN,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_PLAIN, children, max_size=3),
    max_leaves=20,
)


def _pairs_counted(body: bytes) -> int:
    """Keys as the strict parser sees them: every pair of every object, duplicates included."""
    count = 0

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal count
        count += len(pairs)
        return dict(pairs)

    json.loads(body, object_pairs_hook=hook)
    return count


@settings(max_examples=300, deadline=None)
@given(_values, st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")]))
def test_keys_written_counts_the_keys_json_reads(value: Any, separators: tuple[str, str]):
    # Given any JSON text without escapes, colons and brackets inside its strings
    body = json.dumps(value, ensure_ascii=False, separators=separators).encode()
    assert b"\\" not in body
    # Then the byte count of keys is the parser's
    assert keys_written(body) == _pairs_counted(body)


def test_keys_written_sees_a_key_written_twice():
    assert keys_written(b'{"a": {"b": 1, "b": 2}}') == 3


@pytest.mark.parametrize(
    ("body", "kept", "once"),
    [
        (b'{"a": {"b": 1, "c": 2}}', 3, True),
        (b'{"a": {"b": 1, "b": 2}}', 2, False),
        (b'{"a": "x:y", "b": 1}', 2, True),  # a colon in a string: counted outside strings
        (b'{"a": "x:y", "a": 1}', 1, False),
        (b'{"a" : 1, "a": ":"}', 1, False),  # a spaced colon and a colon in a string
    ],
)
def test_no_key_twice(body: bytes, kept: int, once: bool):
    assert kept == len(json.loads(body)) + sum(
        len(v) for v in json.loads(body).values() if isinstance(v, dict)
    )
    assert no_key_twice(body, kept) is once


def _batch(records: list[Any], **extra: Any) -> bytes:
    return json.dumps({"records": records, **extra}, ensure_ascii=False).encode()


HOSTILE = {
    "plain": _batch([v2_body(), v2_body(customer={"age": 70})]),
    "colon and brackets in a ref": _batch([v2_body(customer_ref='crm:{1}[2]:"')]),
    "colon in a ref, no escapes": _batch([v2_body(customer_ref="urn:crm:1")]),
    "normalisable categories": _batch(
        [v2_body(customer={"job": " Technician ", "marital_status": "SINGLE"})]
    ),
    "unknown category": _batch([v2_body(customer={"job": "astronaut"})]),
    "ASCII-escaped": json.dumps({"records": [v2_body(customer={"job": "técnico"})]}).encode(),
    "non-ASCII": _batch([v2_body(customer={"job": "ingeniero técnico"}, customer_ref="crm-é")]),
    "escaped quote": _batch([v2_body(customer={"job": 'a"b'})]),
    "integral float": _batch([v2_body(customer={"age": 41.0})]),
    "exponent": _batch([v2_body(finances={"balance_eur": 1e3})]),
    "overflowing exponent": _batch([v2_body()]).replace(b'"age": 41', b'"age": 1e999'),
    "NaN": _batch([v2_body()]).replace(b'"age": 41', b'"age": NaN'),
    "an invalid record": _batch([v2_body(), v2_body(customer={"age": "old"})]),
    "not an object": _batch([v2_body(), "x"]),
    "extra envelope key": _batch([v2_body()], extra=1),
    "null ref": _batch([v2_body(customer_ref=None)]),
    "spaced separators": json.dumps({"records": [v2_body()]}, indent=2).encode(),
    "spaced colons": json.dumps({"records": [v2_body()]}, separators=(" , ", " : ")).encode(),
}


def _general(body: bytes) -> Any:
    document = parse_json(body)
    return check_records(document["records"])


@pytest.mark.parametrize("name", list(HOSTILE))
def test_the_fast_batch_is_the_general_batch_or_declines(name: str):
    # Given a batch body, usual or hostile
    body = HOSTILE[name]
    fast = valid_batch(body)
    # Then the fast path either declines or agrees with the general path in every part
    if fast is None:
        return
    assert fast == _general(body)


@pytest.mark.parametrize(
    "name", ["plain", "colon in a ref, no escapes", "normalisable categories", "non-ASCII", "spaced colons"]
)
def test_usual_bodies_take_the_fast_path(name: str):
    # A fast path that always declined would pass the test above and help nobody.
    assert valid_batch(HOSTILE[name]) is not None


@pytest.mark.parametrize(
    "body",
    [
        b'{"records": ['
        + json.dumps(v2_body()).encode()[:-1]
        + b', "customer_ref": "a", "customer_ref": "b"}]}',
        json.dumps({"records": [v2_body()]}).replace('"age": 41', '"age": 41, "age": 42').encode(),
        b'{"records": ['
        + json.dumps(v2_body()).encode()
        + b'], "records": ['
        + json.dumps(v2_body()).encode()
        + b"]}",
    ],
    ids=["in a record", "in a group", "the envelope"],
)
def test_a_key_written_twice_is_declined_and_refused_by_name(body: bytes):
    # Given an otherwise valid batch with one key written twice (pydantic would keep the last)
    assert body.count(b'"age"') >= 1
    # Then the fast path declines, and the general path refuses the body, naming the key
    assert valid_batch(body) is None
    with pytest.raises(MalformedRequestError, match="twice"):
        parse_json(body)


def test_a_key_twice_through_the_api_is_a_400_naming_it(client):
    body = json.dumps({"records": [v2_body()]}).replace('"age": 41', '"age": 41, "age": 42')
    response = client.post("/v2/predict/batch", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "the key 'age' twice" in response.text


def test_the_batch_response_is_compact_ascii_json_in_request_order(client):
    # Given a batch mixing usual, unknown, non-ASCII, hostile and invalid records
    records = [
        v2_body(),
        v2_body(customer={"job": "ingeniero técnico"}, customer_ref='x"},{"index":9'),
        v2_body(customer={"age": "old"}),
        v2_body(contact={"channel": " CELLULAR "}),
    ]
    response = client.post("/v2/predict/batch", json={"records": records})
    assert response.status_code == 200
    # Then the body is ASCII JSON, results in request order, each scored one as the single
    # endpoint scores that record
    assert response.content.isascii()
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert "errors" in results[2]
    for k in (0, 1, 3):
        single = client.post("/v2/predict", json=records[k]).json()
        assert results[k]["probability"] == single["probability"]
        assert (results[k]["decision"], results[k]["warnings"]) == (single["decision"], single["warnings"])


def test_results_say_what_the_encoder_says_in_ascii():
    # Given results with tiny probabilities, hostile and non-ASCII warnings, under an experiment
    probabilities = [0.1, 1e-05, 0.3333333333333333, 1.0, 5e-324, 0.0]
    warnings = [[], ['x"},{"index":9'], ["técnico \u2028"], [], [], ["a", "b"]]
    ids = [f"id-{k}" for k in range(6)]
    texts = result_texts(
        range(6), ids, probabilities, ["no"] * 6, ["low"] * 6, warnings, "v2-b", "challenger"
    )
    # Then each text is one ASCII JSON object with exactly these values, in this order of keys
    expected = [
        {"index": k, "prediction_id": ids[k], "probability": probabilities[k], "decision": "no",
         "confidence": "low", "warnings": warnings[k], "model_version": "v2-b", "arm": "challenger"}
        for k in range(6)
    ]  # fmt: skip
    assert [json.loads(t) for t in texts] == expected
    assert [list(json.loads(t)) for t in texts] == [list(e) for e in expected]
    assert all(t.isascii() and "\n" not in t for t in texts)
    # And without an experiment a result has no model_version or arm
    plain = result_texts([3], ["id"], [0.5], ["yes"], ["high"], [[]])
    assert json.loads(plain[0]) == {"index": 3, "prediction_id": "id", "probability": 0.5, "decision": "yes",
                                    "confidence": "high", "warnings": []}  # fmt: skip


def test_non_finite_probabilities_are_a_bug_not_an_answer():
    with pytest.raises(ValueError, match="not JSON compliant"):
        result_texts([0, 1], ["a", "b"], [0.5, float("nan")], ["no"] * 2, ["low"] * 2, [[], []])


def test_event_lines_of_columns_are_those_of_records():
    # Given scored records with hostile refs and warnings, as columns and as records
    features = {
        "age": [41, 70, 18],
        "job": ["technician", 'x"},{"prediction_id":"forged', "ingeniero técnico"],
        "days_since_previous_contact": [None, 5, 0],
        "has_housing_loan": [True, False, True],
    }
    refs = [None, "crm:1\u2028", 'x"},{"%s"\U0001f600']
    warnings = [[], ["customer.job: unknown category 'x', scored as unknown"], []]
    columns = ScoredColumns(
        ["id-0", "id-1", "id-2"], features, [0.25, 1e-05, 0.999], ["no", "no", "yes"], ["low", "low", "high"],
        warnings, refs,
    )  # fmt: skip
    records = [
        ScoredRecord(
            columns.prediction_ids[k],
            {name: values[k] for name, values in features.items()},
            columns.probabilities[k],
            columns.decisions[k],
            columns.bands[k],
            warnings[k],
            refs[k],
        )
        for k in range(3)
    ]
    info = RequestInfo('req-"%s"', "crm %", datetime(2026, 12, 1, 12, tzinfo=UTC), synthetic=True)
    shared: dict[str, Any] = {
        "info": info, "api_version": "v2", "model_version": "v2-x", "threshold": 0.2,
        "phases_ms": {"validation": 1.5}, "batch_size": 3, "experiment": "exp-1", "arm": "challenger",
    }  # fmt: skip
    # Then msgspec's lines (the batch's) say exactly what the encoder's lines say, value for
    # value, and stay ASCII (a non-ASCII feature and a U+2028 in a ref are escaped)
    batch_lines = event_lines(columns, shared_fields(**shared))
    assert [json.loads(line) for line in batch_lines] == [
        json.loads(line) for line in event_lines(records, shared_fields(**shared))
    ]
    assert all(line.isascii() and "\n" not in line for line in batch_lines)
    assert [PredictionEvent.model_validate_json(line).customer_ref for line in batch_lines] == refs


def test_batch_prediction_ids_are_random_version_4_uuids():
    ids = new_prediction_ids(300)
    parsed = [uuid.UUID(i) for i in ids]
    assert len(set(ids)) == 300
    assert all(str(p) == i and p.version == 4 and p.variant == uuid.RFC_4122 for p, i in zip(parsed, ids))


# Values a field may be replaced with: right and wrong types, edges of every range, blanks,
# long strings, look-alikes of booleans and integers.
_FIELD_VALUES = st.sampled_from(
    [0, 1, -1, 17, 18, 100, 101, 31, 32, 1000, 1001, 10000, 10001, -100000000, 100000001, 2**70,
     True, False, None, 41.0, 0.5, "", " ", "\t", "41", "yes", "technician", " Technician ", "x" * 64,
     "x" * 65, "astronaut", [], {}, {"a": 1}]
)  # fmt: skip


def _field_names() -> list[tuple[str, str]]:
    body = v2_body()
    return [(group, name) for group, fields in body.items() if isinstance(fields, dict) for name in fields]


_mutation = st.one_of(
    st.tuples(st.just("field"), st.sampled_from(_field_names()), _FIELD_VALUES),
    st.tuples(
        st.just("ref"), st.just(("", "")), st.sampled_from([None, "", " ", "c" * 64, "c" * 65, 7, "urn:x"])
    ),
    st.tuples(st.just("extra"), st.sampled_from([("customer", "x"), ("", "x"), ("", "records")]), st.just(1)),
    st.tuples(
        st.just("drop"), st.sampled_from(_field_names() + [("customer", ""), ("history", "")]), st.just(0)
    ),
)


def _mutated(mutations: list[Any]) -> dict[str, Any]:
    record = v2_body()
    for kind, (group, name), value in mutations:
        target = record.get(group) if group else record
        if not isinstance(target, dict):  # a group an earlier mutation removed or replaced
            continue
        if kind == "field" or kind == "extra":
            target[name] = value
        elif kind == "ref":
            record["customer_ref"] = value
        elif name:
            target.pop(name, None)
        else:
            record.pop(group, None)
    return record


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(_mutation, max_size=2), min_size=1, max_size=4))
def test_the_column_checks_accept_exactly_what_pydantic_accepts(batches: list[list[Any]]):
    # Given a batch of records, each valid or broken in one or two ways
    records = [_mutated(mutations) for mutations in batches]
    body = _batch(records)
    general = check_records(records)
    fast = valid_batch(body)
    # Then the fast path scores the batch only when pydantic finds every record valid, and then
    # exactly as the general path does
    if not general.errors:
        assert fast == general
    else:
        assert fast is None


def test_the_matrix_of_a_batch_is_its_rows_matrices():
    # Given 20 flat records with known, unknown and missing values (the vectorised one-hot
    # path from 8 rows, the loop below)
    records = [
        _mutated([("field", ("customer", "job"), job)])
        for job in ["admin.", "astronaut", "student", "unknown"] * 5
    ]
    for k, record in enumerate(records):
        record["history"]["days_since_previous_contact"] = None if k % 3 else k
    batch = check_records(records)
    # Then the batch's matrix is the rows' matrices stacked, whatever path each took
    matrix = v2_transform(batch.columns)
    rows = [v2_transform({name: [values[k]] for name, values in batch.columns.items()}) for k in range(20)]
    assert np.array_equal(matrix, np.vstack(rows), equal_nan=True)
    assert matrix[:, list(v2_features.COLUMN_NAMES).index("job=admin.")].sum() == 5
