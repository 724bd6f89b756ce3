"""The by-id outcome lookup (a hash aggregate) picks exactly the row the documented precedence
window picks, on hostile rows too: NULL dates, times, hashes, rows and outcomes, ties on
every field but the last, outcomes that are neither yes nor no."""

from __future__ import annotations

import duckdb
import numpy as np

from propensity.query.sql import outcome_by_id

# The precedence as ``labels.outcomes`` documents it, as a window (what the lookup replaced).
WINDOW = """
SELECT prediction_id, outcome FROM (
  SELECT prediction_id, outcome,
         ROW_NUMBER() OVER (
           PARTITION BY prediction_id
           ORDER BY outcome_date DESC, ingested_at DESC, file_sha256 DESC, source_row DESC
         ) AS rank
  FROM t WHERE prediction_id IS NOT NULL
) WHERE rank = 1
"""


def _maybe(rng: np.random.Generator, values: list, p_null: float = 0.15):
    return None if rng.random() < p_null else values[int(rng.integers(len(values)))]


def test_the_lookup_agrees_with_the_precedence_window_on_hostile_rows():
    rng = np.random.default_rng(13)
    rows = []
    for i in range(4000):
        # few ids, few distinct values: many ties that only a later field breaks
        rows.append(
            (
                _maybe(rng, [f"p-{k}" for k in range(300)], 0.05),
                _maybe(rng, ["yes", "no", "", "YES", "maybe"], 0.2),
                _maybe(rng, ["2026-03-01", "2026-03-02", ""]),
                _maybe(rng, ["2026-03-05T00:00:00Z", "2026-03-05T00:00:01Z"]),
                _maybe(rng, ["a" * 64, "b" * 64]),
                i,  # (file, row) is unique in the store: no full ties
            )
        )
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE t (prediction_id VARCHAR, outcome VARCHAR, outcome_date VARCHAR,"
        " ingested_at VARCHAR, file_sha256 VARCHAR, source_row BIGINT)"
    )
    connection.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", rows)
    # a NULL row number loses to any number (NULLS LAST), the rest being equal
    same = ("2026-03-02", "2026-03-05T00:00:00Z", "c" * 64)
    connection.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)",
        [("q-1", "yes", *same, None), ("q-1", "no", *same, 1), ("q-2", None, *same, None)],
    )

    def read(outcome: str | None) -> str:
        # what the cube reads of an outcome: yes, no, none, or some other answer
        return {"yes": "yes", "no": "no", None: "none"}.get(outcome, "other")

    expected = {pid: read(o) for pid, o in connection.execute(WINDOW).fetchall()}
    got = {pid: read(o) for pid, o in connection.execute(outcome_by_id("t")).fetchall()}
    assert got == expected
    assert {"yes", "no", "none", "other"} <= set(expected.values())
