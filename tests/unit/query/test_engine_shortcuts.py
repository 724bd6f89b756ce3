"""The DuckDB engine's two shortcuts (the ``features`` struct narrowed to the fields a query
names, one hash aggregate for GROUPING SETS) change no result row of any job query, on a
hostile archive: copies of a prediction (identical, and differing in time, request and score),
wrongly typed and missing feature fields, NULL fields, malformed lines, synthetic events,
events outside the window, late and conflicting labels, customer-reference outcomes."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import propensity.query.duckdb_engine as duckdb_engine
from propensity.evaluation.partials import split_rows, window_hours
from propensity.evaluation.windows import window_containing
from propensity.labels.layout import accepted_key
from propensity.labels.models import Outcome
from propensity.query.duckdb_engine import DuckDBEngine, prediction_columns
from propensity.query.schema import PREDICTION_COLUMNS
from propensity.query.sql import Query, drift_counts, evaluation_cube, outcome_book
from tests.unit.evaluation.conftest import MONDAY, make_event

WINDOW = window_containing(MONDAY, 7)


def _lines(rng: np.random.Generator) -> list[str]:
    lines = []
    for i in range(600):
        api = "v1" if i % 2 else "v2"
        at = WINDOW.start + timedelta(minutes=int(rng.integers(0, 7 * 24 * 60 + 90)))
        p = float(rng.beta(1.3, 5.0))
        event = json.loads(
            make_event(
                f"p-{i % 450}",
                p,
                at=at,
                api=api,
                model=f"{api}-m",
                threshold=0.3,
                customer_ref=f"c-{(i % 30) * 10}" if i % 3 == 0 else None,
            ).model_dump_json()
        )
        event["request_id"] = f"r-{int(rng.integers(0, 3))}"  # copies: same, earlier or later request
        roll = rng.random()
        if roll < 0.08:
            event["features"]["age"] = "old"  # wrong type: NULL for that field only
        elif roll < 0.16:
            event["features"]["duration"] = "long"  # a field no evaluation query reads
        elif roll < 0.22:
            del event["features"]["job"]
        elif roll < 0.28:
            event[str(rng.choice(["request_id", "threshold", "model_version", "probability"]))] = None
        elif roll < 0.32:
            event["synthetic"] = True
        elif roll < 0.36:
            event["features"] = "not a struct"
        lines.append(json.dumps(event))
        if rng.random() < 0.15:
            lines.append(lines[-1])  # an identical re-delivery
    lines += ["{not json", "", '{"prediction_id": 7}', "[1, 2]"]
    rng.shuffle(lines)  # type: ignore[arg-type]
    return lines


def _archive(root: Path) -> None:
    rng = np.random.default_rng(31)
    lines = _lines(rng)
    for k, chunk in enumerate(np.array_split(np.array(lines, dtype=object), 40)):
        hour = WINDOW.start + timedelta(hours=int(k * 4.3))
        folder = root / "predictions" / f"{hour:%Y/%m/%d/%H}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"part-{k}.gz").write_bytes(gzip.compress(("\n".join(chunk) + "\n").encode()))
    for sha, day, count in (("a" * 64, date(2026, 3, 20), 300), ("b" * 64, date(2026, 3, 25), 120)):
        outcomes = [
            Outcome(
                prediction_id=None if j % 10 == 0 else f"p-{int(rng.integers(0, 500))}",
                customer_ref=f"c-{j}" if j % 10 == 0 else None,
                outcome="yes" if rng.random() < 0.4 else "no",
                outcome_date=day,
                file_sha256=sha,
                source_key="labels/x.csv",
                source_row=j + 2,
                ingested_at=datetime(2026, 4, 1, tzinfo=UTC),
            ).model_dump_json()
            for j in range(count)
        ]
        path = root / accepted_key(sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(outcomes) + "\n{broken\n")


def _queries() -> list[Query]:
    hours = window_hours(WINDOW)
    return [
        drift_counts(hours),
        evaluation_cube(hours, WINDOW.start, WINDOW.end),
        evaluation_cube(hours, WINDOW.start, WINDOW.end, customer_outcomes=False),
        outcome_book(f"{WINDOW.start:%Y-%m-%d}"),
    ]


def _rows(engine: DuckDBEngine, query: Query) -> list[tuple[Any, ...]]:
    def cell(value: Any) -> Any:
        return round(value, 9) if isinstance(value, float) else value

    return sorted((tuple(cell(row[k]) for k in sorted(row)) for row in engine.run(query)), key=repr)


@pytest.mark.parametrize("query", _queries(), ids=lambda q: q.name)
def test_the_engines_shortcuts_change_no_result_row(query, tmp_path, monkeypatch):
    _archive(tmp_path)
    fast = _rows(DuckDBEngine(tmp_path), query)
    # The engine as it was: every feature field declared, DuckDB's grouping-sets rewrite on
    monkeypatch.setattr(duckdb_engine, "prediction_columns", lambda sql: PREDICTION_COLUMNS)
    plain = DuckDBEngine(tmp_path)
    plain.connection.execute("SET disabled_optimizers = ''")
    assert fast == _rows(plain, query)
    assert len(fast) > 3
    if query.name == "evaluation_cube" and "customer_candidates" in query.sql:
        rows, read = split_rows(DuckDBEngine(tmp_path).run(query))
        # the archive is as hostile as it says: bad lines, synthetic events, copies, customer labels
        assert read.bad_lines and read.synthetic_events and read.window_rows > read.window_events
        assert sum(r["by_customer"] or 0 for r in rows) > 0 and {r["label"] for r in rows} == {-1, 0, 1}


def test_a_query_that_uses_the_struct_whole_reads_every_field():
    assert prediction_columns("SELECT features FROM predictions") is PREDICTION_COLUMNS
    assert prediction_columns('SELECT features."nonexistent" FROM predictions') is PREDICTION_COLUMNS
    [narrow] = [
        c for c in prediction_columns('SELECT features."age", FEATURES."job" FROM p') if c.name == "features"
    ]
    assert narrow.hive == "struct<age:double,job:string>"
