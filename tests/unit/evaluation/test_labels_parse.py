"""Label files are validated row by row: bad rows are rejected with a reason, good rows kept."""

from __future__ import annotations

import gzip
import json
from datetime import date

from propensity.labels.layout import file_format, is_label_file, rejects_key
from propensity.labels.parse import parse_label_file

TODAY = date(2026, 4, 1)


def reasons(parsed) -> dict[int, str]:
    return {r.row: r.reason for r in parsed.rejects}


def test_csv_good_and_bad_rows_are_separated_with_reasons():
    # Given a CSV with one good row and one row per kind of mistake
    text = (
        "\n".join(
            [
                "prediction_id,outcome,outcome_date",
                "p-1,yes,2026-03-10",  # good
                "p-2,maybe,2026-03-10",  # outcome not yes/no
                "p-3,no,10/03/2026",  # date not ISO
                "p-4,no,2026-05-01",  # date in the future
                ",no,2026-03-10",  # no id at all
                "p-6,no",  # missing field
                "p-1,no,2026-03-11",  # duplicate id in the same file
                f"{'x' * 65},no,2026-03-10",  # id longer than an event's prediction id can be
                "p-9,NO,2026-03-12T23:30:00Z",  # good: case and a full timestamp are accepted
            ]
        )
        + "\n"
    )
    # When it is parsed
    parsed = parse_label_file("labels/a.csv", text.encode(), "csv", TODAY)
    # Then the two good rows are kept and every bad row says why, by line number
    assert [(v.prediction_id, v.outcome, v.outcome_date) for v in parsed.valid] == [
        ("p-1", "yes", date(2026, 3, 10)),
        ("p-9", "no", date(2026, 3, 12)),
    ]
    got = reasons(parsed)
    assert "outcome must be 'yes' or 'no'" in got[3]
    assert "not an ISO date" in got[4]
    assert "in the future" in got[5]
    assert "neither prediction_id nor customer_ref" in got[6]
    assert "2 fields where the header has 3" in got[7]
    assert "duplicate prediction_id 'p-1': already given on line 2" in got[8]
    assert "longer than 64" in got[9]
    assert parsed.rows == 9
    assert {r.content for r in parsed.rejects} >= {"p-2,maybe,2026-03-10", "p-6,no"}


def test_jsonl_rows_with_customer_reference_only_are_valid():
    # Given JSON lines, one joined by customer reference only, one broken, one not an object
    lines = [
        json.dumps({"customer_ref": "c-1", "outcome": "yes", "outcome_date": "2026-03-10"}),
        "{not json",
        json.dumps(["p-2", "yes"]),
        json.dumps({"prediction_id": "p-3", "outcome": True, "outcome_date": "2026-03-10"}),
        "",
    ]
    # When it is parsed
    parsed = parse_label_file("labels/a.jsonl", "\n".join(lines).encode(), "jsonl", TODAY)
    # Then the customer-reference row is kept and the others are rejected with reasons
    assert [(v.customer_ref, v.prediction_id) for v in parsed.valid] == [("c-1", None)]
    got = reasons(parsed)
    assert got[2].startswith("not valid JSON")
    assert got[3] == "expected a JSON object, got list"
    assert "outcome must be 'yes' or 'no', got True" in got[4]


def test_semicolon_csv_with_bom_extra_column_and_gzip_is_read():
    # Given a gzip-compressed, semicolon-separated export with an Excel BOM and an extra column
    text = "\ufeffPrediction_ID;Outcome;Outcome_Date;campaign\np-1;yes;2026-03-10;spring\n"
    data = gzip.compress(text.encode("utf-8"))
    # When it is parsed
    parsed = parse_label_file("labels/export.csv.gz", data, "csv", TODAY)
    # Then the row is read and the extra column is reported as ignored
    assert [v.prediction_id for v in parsed.valid] == ["p-1"]
    assert parsed.ignored_columns == ["campaign"]


def test_unreadable_files_are_rejected_whole_with_the_reason():
    # Given a header without an outcome column, a broken gzip file and a non-UTF-8 file
    cases = {
        "labels/a.csv": (b"prediction_id,result,outcome_date\np-1,yes,2026-03-10\n", "lacks outcome"),
        "labels/b.csv.gz": (b"\x1f\x8bnot really gzip", "not a readable gzip file"),
        "labels/c.csv": ("prediction_id,outcome,outcome_date\np-1,oui,é\n".encode("latin-1"), "not UTF-8"),
    }
    for key, (data, reason) in cases.items():
        # When each is parsed
        parsed = parse_label_file(key, data, "csv", TODAY)
        # Then nothing is kept and the one reject (line 0) says why
        assert parsed.valid == []
        assert len(parsed.rejects) == 1 and parsed.rejects[0].row == 0
        assert reason in parsed.rejects[0].reason


def test_label_file_keys_and_rejects_names():
    # Given keys under labels/ and elsewhere
    # Then only supported suffixes under labels/ are label files
    assert is_label_file("labels/2026/03/week-10.csv")
    assert is_label_file("labels/a.JSONL.gz")
    assert not is_label_file("labels/readme.txt")
    assert not is_label_file("outcomes/accepted/abc.jsonl")
    assert not is_label_file("labels/folder/")
    assert file_format("labels/a.ndjson") == "jsonl"
    # And the rejects file is named after the dropped file and its content
    assert rejects_key("labels/x/week-10.csv.gz", "ab" * 32) == "outcomes/rejects/week-10-abababababab.csv"


def test_customer_ref_is_bounded_as_the_api_bounds_it():
    from propensity.constants import MAX_CUSTOMER_REF_LENGTH

    # Given a customer reference at the API's bound and one a character longer
    at_bound, over = "c" * MAX_CUSTOMER_REF_LENGTH, "c" * (MAX_CUSTOMER_REF_LENGTH + 1)
    text = f"customer_ref,outcome,outcome_date\n{at_bound},yes,2026-03-10\n{over},no,2026-03-10\n"
    # When the labels file is parsed
    parsed = parse_label_file("labels/refs.csv", text.encode(), "csv", TODAY)
    # Then the one the API could have accepted is kept and the longer one (which no v2 request
    # can carry, so it could never join) is refused with the bound the API uses
    assert [v.customer_ref for v in parsed.valid] == [at_bound]
    assert reasons(parsed) == {3: f"customer_ref is longer than {MAX_CUSTOMER_REF_LENGTH} characters"}
