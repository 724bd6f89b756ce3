"""Athena over the Glue tables of the archive: start the query, wait for it, read the small result.

The texts are written in DuckDB's dialect (``query.sql``) and transpiled to Trino, Athena's
engine, with sqlglot, once per text. The workgroup enforces its bytes-scanned limit and its
result location; a query the limit cancels surfaces as ``QueryError`` with Athena's reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from propensity.query.engine import Engine, QueryError, QueryStats, Row
from propensity.query.sql import Query

TERMINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")


@lru_cache(maxsize=64)
def to_trino(sql: str) -> str:
    """The Trino text of a DuckDB-dialect query."""
    import sqlglot

    return str(sqlglot.transpile(sql, read="duckdb", write="trino")[0])


def _value(text: str | None, kind: str) -> Any:
    """A result cell (Athena returns text) as the Python value of its column type."""
    if text is None:
        return None
    if kind in ("bigint", "integer", "smallint", "tinyint"):
        return int(text)
    if kind in ("double", "float", "real", "decimal"):
        return float(text)
    if kind == "boolean":
        return text.lower() == "true"
    return text


class AthenaEngine(Engine):
    """Queries in one Athena workgroup and Glue database."""

    def __init__(
        self,
        *,
        workgroup: str,
        database: str,
        client: Any = None,
        timeout_s: float = 600.0,
        poll_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        if client is None:
            import boto3

            client = boto3.client("athena")
        self.client = client
        self.workgroup = workgroup
        self.database = database
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.sleep = sleep

    def _wait(self, execution_id: str, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        delay = self.poll_s
        while True:
            execution = self.client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
            state = execution["Status"]["State"]
            if state in TERMINAL_STATES:
                if state != "SUCCEEDED":
                    reason = execution["Status"].get("StateChangeReason", "no reason given")
                    raise QueryError(f"{name}: Athena query {execution_id} {state}: {reason}")
                return dict(execution)
            if time.monotonic() > deadline:
                self.client.stop_query_execution(QueryExecutionId=execution_id)
                raise QueryError(
                    f"{name}: Athena query {execution_id} still {state} after {self.timeout_s:.0f} s"
                )
            self.sleep(delay)
            delay = min(delay * 1.5, 5.0)

    def _rows(self, execution_id: str) -> list[Row]:
        paginator = self.client.get_paginator("get_query_results")
        names: list[str] = []
        kinds: list[str] = []
        rows: list[Row] = []
        header_pending = True
        for page in paginator.paginate(QueryExecutionId=execution_id):
            result = page["ResultSet"]
            if not names:
                info = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                names = [c["Name"] for c in info]
                kinds = [c.get("Type", "varchar").lower() for c in info]
            for raw in result.get("Rows", []):
                cells = [d.get("VarCharValue") for d in raw.get("Data", [])]
                if header_pending:
                    header_pending = False
                    if cells == names:  # a SELECT's first row repeats the column names
                        continue
                rows.append({n: _value(c, k) for n, c, k in zip(names, cells, kinds, strict=False)})
        return rows

    def run(self, query: Query) -> list[Row]:
        started = time.perf_counter()
        try:
            execution_id = self.client.start_query_execution(
                QueryString=to_trino(query.sql),
                QueryExecutionContext={"Database": self.database},
                WorkGroup=self.workgroup,
            )["QueryExecutionId"]
        except self.client.exceptions.ClientError as error:
            raise QueryError(f"{query.name}: {error}") from error
        execution = self._wait(execution_id, query.name)
        rows = self._rows(execution_id)
        scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))
        self.log.queries.append(QueryStats(query.name, time.perf_counter() - started, scanned, len(rows)))
        return rows
