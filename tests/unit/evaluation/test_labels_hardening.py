"""Label files as a careless or hostile sender makes them: every bad row a reject, memory bounded.

Each case says what was sent and what must come out; the valid rows of a file always survive
its bad ones, and a file rejected whole makes ``propensity ingest-labels`` exit non-zero.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
from datetime import date

import pytest

from propensity.cli import main
from propensity.labels.ingest import ingest_object
from propensity.labels.parse import (
    MAX_LABEL_ROWS,
    MAX_LABEL_TEXT_BYTES,
    UnreadableFileError,
    gunzip_bounded,
    parse_label_file,
)

TODAY = date(2026, 4, 1)
HEADER = "prediction_id,outcome,outcome_date"
GOOD = ["p-1,yes,2026-03-10", "p-2,no,2026-03-11"]


def csv_bytes(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


# (case, file content, rows kept, the reason's tell-tale) -- a row is always a row-level reject
CSV_ROWS = [
    (
        "field over 128 KiB",
        csv_bytes(GOOD[0], f'p-3,"{"y" * 200_000}",2026-03-10', GOOD[1]),
        2,
        "field larger",
    ),
    ("unterminated quote", csv_bytes(GOOD[0], 'p-3,"yes,2026-03-10', GOOD[1]), 2, "fields where the header"),
    ("NUL bytes", csv_bytes(GOOD[0], "p-\x003,yes,2026-03-10", GOOD[1]), 3, None),
    ("too many fields", csv_bytes(GOOD[0], "p-3,yes,2026-03-10,extra", GOOD[1]), 2, "4 fields"),
    ("id over 64 chars", csv_bytes(GOOD[0], f"{'p' * 65},yes,2026-03-10", GOOD[1]), 2, "longer than 64"),
    ("year 10000 date", csv_bytes(GOOD[0], "p-3,yes,10000-01-01", GOOD[1]), 2, "not an ISO date"),
    (
        "formula injection",
        csv_bytes(GOOD[0], "=cmd|' /C calc'!A0,maybe,2026-03-10", GOOD[1]),
        2,
        "outcome must",
    ),
]


@pytest.mark.parametrize(("case", "data", "kept", "reason"), CSV_ROWS, ids=[c[0] for c in CSV_ROWS])
def test_a_bad_csv_row_is_a_reject_and_the_good_rows_are_kept(case, data, kept, reason):
    # When a file with one bad row among good ones is parsed
    parsed = parse_label_file("labels/a.csv", data, "csv", TODAY)
    # Then the good rows are kept and the bad one (if bad) says why, on its own line number
    assert len(parsed.valid) == kept, case
    assert {v.prediction_id for v in parsed.valid} >= {"p-1", "p-2"}
    if reason:
        [reject] = parsed.rejects
        assert reject.row == 3 and reason in reject.reason
        assert len(reject.content) < 2100  # a 200 KB row is shown cut, not copied whole


JSON_ROWS = [
    ("deep nesting", "[" * 100_000 + "]" * 100_000, "not readable JSON"),
    (
        "5000-digit number",
        '{"prediction_id": ' + "9" * 5000 + ', "outcome": "yes", "outcome_date": "2026-03-01"}',
        "not readable JSON",
    ),
    (
        "id is an object",
        json.dumps({"prediction_id": {"$ne": 1}, "outcome": "yes", "outcome_date": "2026-03-01"}),
        "must be text",
    ),
    (
        "outcome is true",
        json.dumps({"prediction_id": "p-3", "outcome": True, "outcome_date": "2026-03-01"}),
        "outcome must",
    ),
    (
        "date is a list",
        json.dumps({"prediction_id": "p-3", "outcome": "no", "outcome_date": [2026]}),
        "must be text",
    ),
    ("a bare string", json.dumps("p-3,yes"), "expected a JSON object"),
    ("NaN literal", '{"prediction_id": NaN, "outcome": "no", "outcome_date": "2026-03-01"}', None),
]


@pytest.mark.parametrize(("case", "line", "reason"), JSON_ROWS, ids=[c[0] for c in JSON_ROWS])
def test_a_bad_json_line_is_a_reject_and_the_good_lines_are_kept(case, line, reason):
    good = [
        json.dumps({"prediction_id": f"p-{i}", "outcome": "yes", "outcome_date": "2026-03-01"})
        for i in (1, 2)
    ]
    data = "\n".join([good[0], line, good[1]]).encode()
    parsed = parse_label_file("labels/a.jsonl", data, "jsonl", TODAY)
    assert {v.prediction_id for v in parsed.valid} >= {"p-1", "p-2"}, case
    if reason:
        [reject] = parsed.rejects
        assert reject.row == 2 and reason in reject.reason


def test_a_gzip_bomb_is_rejected_with_the_reason_and_memory_stays_bounded():
    # Given 1 GiB of zeros in about 1 MB: 1024 gzip members of 1 MiB each, one valid file
    # (the 400 KB file took 885 MB through gzip.decompress)
    bomb = gzip.compress(b"\0" * (1 << 20), compresslevel=9) * 1024
    assert len(bomb) < 2 << 20
    # When it is parsed under tracemalloc
    tracemalloc.start()
    parsed = parse_label_file("labels/bomb.csv.gz", bomb, "csv", TODAY)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Then it is rejected whole, saying why, having held at most about twice the limit (the
    # output buffer's last growth copies it), not the gigabyte it claims
    assert parsed.valid == [] and parsed.rejects[0].row == 0
    assert "more than the 16,777,216-byte limit" in parsed.rejects[0].reason
    assert peak < MAX_LABEL_TEXT_BYTES * 2.2, f"peak {peak / 2**20:.0f} MiB"


def test_a_file_over_the_row_limit_is_rejected_whole_asking_to_split_it():
    data = csv_bytes(*[f"p-{i},no,2026-03-01" for i in range(MAX_LABEL_ROWS + 1)])
    parsed = parse_label_file("labels/big.csv", data, "csv", TODAY)
    assert parsed.valid == [] and [r.row for r in parsed.rejects] == [0]
    assert "more than 100,000 rows (split it" in parsed.rejects[0].reason
    assert len(parse_label_file("labels/ok.csv", csv_bytes(*GOOD), "csv", TODAY).valid) == 2


def test_gzip_members_concatenated_padding_and_truncation():
    one, two = gzip.compress(csv_bytes(GOOD[0])), gzip.compress(b"p-2,no,2026-03-11\n")
    # `cat a.gz b.gz` is one valid file, trailing zero padding too
    assert gunzip_bounded(one + two + b"\0" * 16) == csv_bytes(GOOD[0]) + b"p-2,no,2026-03-11\n"
    # a file cut short is unreadable, not a silent half
    with pytest.raises(UnreadableFileError, match="truncated"):
        gunzip_bounded(one[: len(one) // 2])
    with pytest.raises(UnreadableFileError, match="not a readable gzip"):
        gunzip_bounded(one[:10] + b"\xff" * 20)
    # exactly at the limit is fine, one byte over is not
    assert len(gunzip_bounded(gzip.compress(b"a" * 100), limit=100)) == 100
    with pytest.raises(UnreadableFileError, match="limit"):
        gunzip_bounded(gzip.compress(b"a" * 101), limit=100)


def test_an_oversized_plain_file_is_rejected_whole_without_being_parsed(store):
    # Given a dropped CSV one byte over the limit
    data = csv_bytes(*GOOD)
    store.put("labels/huge.csv", data + b"#" * (MAX_LABEL_TEXT_BYTES + 1 - len(data)))
    # When it is ingested
    record = ingest_object(store, "labels/huge.csv").record
    # Then nothing is kept, the record says why and counts it as rejected whole
    assert (record.accepted, record.rejected, record.fully_rejected) == (0, 1, True)
    assert "larger than the 16,777,216-byte limit" in store.get(record.rejects_key).decode()


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (csv_bytes(*GOOD), 0),  # all good
        (csv_bytes(GOOD[0], "p-3,maybe,2026-03-10"), 0),  # some rows rejected: the file still counts
        (csv_bytes("p-3,maybe,2026-03-10"), 2),  # every row rejected
        (b"prediction_id;result\np-1;yes\n", 2),  # no outcome column: rejected whole
        (b"", 2),  # empty
    ],
)
def test_ingest_labels_exits_non_zero_when_a_file_is_rejected_whole(tmp_path, capsys, content, code):
    # Given a local label file
    path = tmp_path / "week.csv"
    path.write_bytes(content)
    # When it is ingested from the command line / Then the exit code tells a file that gave nothing
    assert main(["ingest-labels", "--archive", str(tmp_path / "archive"), str(path)]) == code
    if code:
        assert "nothing accepted" in capsys.readouterr().err
