"""The experiment's rows read by DuckDB (``propensity.query``) are exactly those the Python
reader finds, on an archive with duplicates, probe traffic, fallbacks, other experiments, v1
traffic and broken lines; and the experiment query is valid Trino for Athena."""

from __future__ import annotations

import gzip
from datetime import timedelta

import pytest
import sqlglot

from propensity.experiments.analysis import analyse, load_rows
from propensity.experiments.assignment import FALLBACK_WARNING
from propensity.labels.outcomes import load_outcomes
from propensity.query.athena import to_trino
from propensity.query.duckdb_engine import DuckDBEngine
from propensity.query.experiment_sql import experiment_rows
from tests.unit.experiments.synthetic import START, experiment, make_record, write_experiment

NOW = START + timedelta(days=50)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine-parity")
    record = make_record(planned=1500)
    store, truth = write_experiment(root, record, customers=1500, lift=1.0)
    hour = root / "predictions" / START.strftime("%Y/%m/%d/%H")
    hour.mkdir(parents=True, exist_ok=True)
    sample = next(hour.parent.parent.glob("*/*/*.gz"))
    with gzip.open(sample, "rt") as stream:
        line = stream.readline()
    hostile = [
        "this is not json",
        line[: len(line) // 2],  # a half-written line
        line.replace(record.experiment_id, "v2-exp9999"),  # another experiment
        line.replace('"api_version":"v2"', '"api_version":"v1"'),  # another API version
    ]
    with gzip.open(hour / "hostile.jsonl.gz", "at") as stream:
        stream.write("\n".join(hostile) + "\n")
    return store, record, truth


def test_duckdb_reads_the_same_experiment_rows_as_the_python_reader(archive):
    store, record, truth = archive
    book = load_outcomes(store)
    python = load_rows(store, experiment(record), book, NOW)
    duck = load_rows(store, experiment(record), book, NOW, DuckDBEngine(store.root))
    for arm in ("champion", "challenger"):
        assert duck.arms[arm].customer_keys == python.arms[arm].customer_keys
        assert duck.arms[arm].probability == python.arms[arm].probability
        assert duck.arms[arm].label == python.arms[arm].label
        assert duck.arms[arm].known_day == python.arms[arm].known_day
        assert duck.arms[arm].fallback == python.arms[arm].fallback
        assert len(python.arms[arm].probability) == truth[arm]
    assert (duck.events_read, duck.synthetic_skipped, duck.duplicates, duck.wrong_model) == (
        python.events_read,
        python.synthetic_skipped,
        python.duplicates,
        python.wrong_model,
    )
    assert python.synthetic_skipped == truth["synthetic"] and python.duplicates > 0


def test_the_analysis_is_identical_through_either_reader(archive):
    store, record, _ = archive
    book = load_outcomes(store)
    python = analyse(store, experiment(record), book, now=NOW, resamples=200)
    duck = analyse(store, experiment(record), book, now=NOW, resamples=200, engine=DuckDBEngine(store.root))
    assert duck.model_dump() == python.model_dump()


def test_the_experiment_query_is_trino_and_cannot_be_broken_out_of():
    query = experiment_rows(
        [START, START + timedelta(hours=1)], "v2-exp'; DROP TABLE t; --", "v2", FALLBACK_WARNING
    )
    trino = to_trino(query.sql)
    parsed = sqlglot.parse_one(trino, read="trino")
    assert parsed.find(sqlglot.exp.Drop) is None
    assert "LIST_" not in trino.upper() and "CONTAINS(" in trino.upper()
    assert query.hours == (
        START.strftime("%Y/%m/%d/%H"),
        (START + timedelta(hours=1)).strftime("%Y/%m/%d/%H"),
    )


def test_an_empty_window_is_a_valid_query(tmp_path):
    assert DuckDBEngine(tmp_path).run(experiment_rows([], "v2-exp0000", "v2", FALLBACK_WARNING)) == []
