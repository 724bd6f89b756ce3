"""Ingestion stores good rows and rejects, never counts a file twice, resolves duplicates."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from propensity.labels.ingest import NotALabelFileError, ingest_all, ingest_object
from propensity.labels.layout import ACCEPTED_PREFIX, RECORDS_PREFIX
from propensity.labels.outcomes import load_outcomes
from tests.unit.evaluation.conftest import label_csv

NOW = datetime(2026, 4, 1, 8, tzinfo=UTC)
LATER = datetime(2026, 4, 8, 8, tzinfo=UTC)


def test_a_file_is_stored_as_accepted_rows_rejects_and_a_record(store):
    # Given a dropped file with two good rows and one bad row
    store.put(
        "labels/week-13.csv",
        label_csv(
            [("p-1", "yes", "2026-03-20"), ("p-2", "no", "2026-03-21"), ("p-3", "perhaps", "2026-03-21")]
        ),
    )
    # When it is ingested
    result = ingest_object(store, "labels/week-13.csv", now=NOW)
    # Then the record counts rows, the good rows are stored and the rejects file says why
    assert not result.duplicate
    assert (result.record.rows, result.record.accepted, result.record.rejected) == (3, 2, 1)
    rejects = list(csv.DictReader(io.StringIO(store.get(result.record.rejects_key).decode())))
    assert rejects == [
        {
            "row": "4",
            "reason": "outcome must be 'yes' or 'no', got 'perhaps'",
            "content": "p-3,perhaps,2026-03-21",
        }
    ]
    book = load_outcomes(store)
    assert {pid: o.outcome for pid, o in book.by_prediction.items()} == {"p-1": "yes", "p-2": "no"}
    # And the dropped file itself is left as it was
    assert store.exists("labels/week-13.csv")


def test_the_same_content_dropped_twice_is_not_counted_twice(store):
    # Given a file ingested once
    data = label_csv([("p-1", "yes", "2026-03-20"), ("p-2", "no", "2026-03-21")])
    store.put("labels/week-13.csv", data)
    first = ingest_object(store, "labels/week-13.csv", now=NOW)
    # When the same bytes are dropped again, under another name, and everything is re-ingested
    store.put("labels/resent/week-13-copy.csv", data)
    second = ingest_object(store, "labels/resent/week-13-copy.csv", now=LATER)
    again = ingest_all(store, now=LATER)
    # Then the second drop is reported as a duplicate of the first, and the outcomes count once
    assert second.duplicate and second.record.source_key == "labels/week-13.csv"
    assert all(r.duplicate for r in again)
    assert len(store.list(ACCEPTED_PREFIX)) == 1 and len(store.list(RECORDS_PREFIX)) == 1
    book = load_outcomes(store)
    assert len(book) == 2 and book.duplicates == 0
    assert first.record.sha256 == second.record.sha256


def test_duplicates_across_files_resolve_by_date_then_by_the_later_file(store):
    # Given three files that disagree about p-1 and p-2
    store.put("labels/a.csv", label_csv([("p-1", "no", "2026-03-20"), ("p-2", "no", "2026-03-22")]))
    ingest_object(store, "labels/a.csv", now=NOW)
    store.put("labels/b.csv", label_csv([("p-1", "yes", "2026-03-25"), ("p-2", "yes", "2026-03-22")]))
    ingest_object(store, "labels/b.csv", now=LATER)
    # (an older outcome for p-1 arriving last must not win over the more recent knowledge)
    store.put("labels/c.csv", label_csv([("p-1", "no", "2026-03-18")]))
    ingest_object(store, "labels/c.csv", now=datetime(2026, 4, 15, tzinfo=UTC))
    # When the outcomes are loaded
    book = load_outcomes(store)
    # Then p-1 takes the latest outcome date, p-2 (same date) the file ingested later
    assert book.by_prediction["p-1"].outcome == "yes"
    assert book.by_prediction["p-1"].outcome_date == date(2026, 3, 25)
    assert book.by_prediction["p-2"].outcome == "yes"
    assert book.by_prediction["p-2"].source_key == "labels/b.csv"
    assert (book.duplicates, book.conflicts) == (3, 3)


def test_resolution_does_not_depend_on_listing_order(store):
    # Given two files with conflicting outcomes for the same prediction on the same date
    store.put("labels/z-first.csv", label_csv([("p-1", "no", "2026-03-20")]))
    ingest_object(store, "labels/z-first.csv", now=NOW)
    store.put("labels/a-second.csv", label_csv([("p-1", "yes", "2026-03-20")]))
    ingest_object(store, "labels/a-second.csv", now=LATER)
    # When loaded (a-second lists before z-first)
    # Then the file ingested later still wins
    assert load_outcomes(store).by_prediction["p-1"].outcome == "yes"


def test_objects_that_are_not_label_files_are_refused(store):
    # Given an object outside labels/ and one with an unknown suffix
    store.put("predictions/x.csv", b"x")
    store.put("labels/notes.txt", b"x")
    # Then ingesting them is refused with a clear error and ingest_all skips them
    for key in ("predictions/x.csv", "labels/notes.txt"):
        with pytest.raises(NotALabelFileError, match="is not a label file"):
            ingest_object(store, key, now=NOW)
    assert ingest_all(store, now=NOW) == []
