"""Every generated query parses as Trino; the Athena engine waits, pages, types and fails clearly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
import sqlglot
from botocore.stub import Stubber

from propensity.query.athena import AthenaEngine, to_trino
from propensity.query.duckdb_engine import DuckDBEngine
from propensity.query.engine import QueryError
from propensity.query.schema import OUTCOME_COLUMNS, PREDICTION_COLUMNS, duckdb_type
from propensity.query.sql import all_queries_for_parsing, drift_counts, literal

HOUR = datetime(2026, 11, 26, 10, tzinfo=UTC)
HOURS = [HOUR + timedelta(hours=i) for i in range(3)]


@pytest.mark.parametrize(
    "query", all_queries_for_parsing(HOURS, HOUR, HOUR + timedelta(days=7)), ids=lambda q: q.name
)
def test_every_query_runs_on_duckdb_and_parses_as_trino(query, tmp_path):
    # Given the query in DuckDB's dialect: it runs on an empty archive (the views are typed)
    DuckDBEngine(tmp_path).run(query)
    # And its Trino text parses in the Trino dialect, with no DuckDB-only function left in it
    trino = to_trino(query.sql)
    sqlglot.parse_one(trino, read="trino")
    for duckdb_only in ("ARRAY_TO_STRING", "LIST_", "//"):
        assert duckdb_only not in trino.upper()


def test_literals_cannot_break_out_of_a_string():
    assert literal("it's") == "'it''s'"
    parsed = sqlglot.parse_one(f"SELECT * FROM t WHERE a = {literal(chr(39) + '; DROP TABLE t; --')}")
    assert parsed.find(sqlglot.exp.Drop) is None


def test_the_duckdb_views_have_the_glue_types():
    types = {c.name: duckdb_type(c.hive) for c in PREDICTION_COLUMNS + OUTCOME_COLUMNS}
    assert types["probability"] == "DOUBLE" and types["warnings"] == "VARCHAR[]"
    assert types["features"].startswith('STRUCT("age" DOUBLE, "job" VARCHAR')
    assert types["source_row"] == "BIGINT"


def _client():
    return boto3.client("athena", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


def _execution(state: str, reason: str | None = None, scanned: int = 0) -> dict:
    status = {"State": state} | ({"StateChangeReason": reason} if reason else {})
    return {
        "QueryExecution": {
            "QueryExecutionId": "q-1",
            "Status": status,
            "Statistics": {"DataScannedInBytes": scanned},
        }
    }


def test_athena_results_are_waited_for_paged_and_typed():
    client = _client()
    engine = AthenaEngine(workgroup="wg", database="db", client=client, poll_s=0, sleep=lambda _: None)
    columns = [
        {"Name": "dt", "Type": "varchar"},
        {"Name": "events", "Type": "bigint"},
        {"Name": "uncertain", "Type": "boolean"},
    ]
    header = {"Data": [{"VarCharValue": "dt"}, {"VarCharValue": "events"}, {"VarCharValue": "uncertain"}]}

    def row(n):
        return {
            "Data": [{"VarCharValue": "2026/11/26/10"}, {"VarCharValue": str(n)}, {"VarCharValue": "true"}]
        }

    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
        stub.add_response("get_query_execution", _execution("QUEUED"))
        stub.add_response("get_query_execution", _execution("RUNNING"))
        stub.add_response("get_query_execution", _execution("SUCCEEDED", scanned=12345))
        page = {
            "ResultSet": {"Rows": [header, row(1)], "ResultSetMetadata": {"ColumnInfo": columns}},
            "NextToken": "t",
        }
        stub.add_response("get_query_results", page)
        last = {
            "ResultSet": {
                "Rows": [row(2), {"Data": [{"VarCharValue": "2026/11/26/11"}, {}, {}]}],
                "ResultSetMetadata": {"ColumnInfo": columns},
            }
        }
        stub.add_response("get_query_results", last)
        rows = engine.run(drift_counts(HOURS))
    assert rows == [
        {"dt": "2026/11/26/10", "events": 1, "uncertain": True},
        {"dt": "2026/11/26/10", "events": 2, "uncertain": True},
        {"dt": "2026/11/26/11", "events": None, "uncertain": None},
    ]
    assert engine.log.bytes_scanned == 12345


def test_a_cancelled_query_says_why():
    client = _client()
    engine = AthenaEngine(workgroup="wg", database="db", client=client, poll_s=0, sleep=lambda _: None)
    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
        stub.add_response(
            "get_query_execution",
            _execution("CANCELLED", "Query cancelled: it scanned more than the workgroup's limit"),
        )
        with pytest.raises(QueryError, match="drift_counts.*CANCELLED.*workgroup's limit"):
            engine.run(drift_counts(HOURS))


def test_a_query_past_its_deadline_is_stopped():
    client = _client()
    engine = AthenaEngine(
        workgroup="wg", database="db", client=client, timeout_s=0, poll_s=0, sleep=lambda _: None
    )
    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
        stub.add_response("get_query_execution", _execution("RUNNING"))
        stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-1"})
        with pytest.raises(QueryError, match="still RUNNING"):
            engine.run(drift_counts(HOURS))
