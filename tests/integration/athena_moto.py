"""Athena on moto: the real ``AthenaEngine`` with each result computed by DuckDB over the bucket.

moto runs no SQL; it hands out results queued through its documented API
(``POST /moto-api/static/athena/query-results``). ``AthenaOnMoto`` copies the objects a
query reads out of the (moto) bucket, computes the result with DuckDB, queues it in Athena's
wire format (text cells, typed columns), then runs the query through the real Athena engine:
transpiled to Trino, started, polled, paginated and parsed as in AWS. Every Trino text it
submitted is kept, for the parse checks.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import boto3
import requests

from propensity.labels.layout import ACCEPTED_PREFIX
from propensity.query.athena import AthenaEngine
from propensity.query.duckdb_engine import DuckDBEngine
from propensity.query.engine import Engine, Row
from propensity.query.sql import Query

MOTO_ATHENA_RESULTS = "http://motoapi.amazonaws.com/moto-api/static/athena/query-results"
WORKGROUP = "propensity-test-archive"
DATABASE = "propensity_test_archive"


def _athena_type(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "varchar"
    if all(isinstance(v, bool) for v in present):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "bigint"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "double"
    return "varchar"


def _cell(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"VarCharValue": "true" if value else "false"}
    return {"VarCharValue": repr(value) if isinstance(value, float) else str(value)}


def queue_result(rows: list[Row], columns: list[str], region: str) -> None:
    """Queue one result in moto (the header row first, as Athena returns a SELECT)."""
    kinds = [_athena_type([r[c] for r in rows]) for c in columns]
    data = [{"Data": [{"VarCharValue": c} for c in columns]}]
    data += [{"Data": [_cell(r[c]) for c in columns]} for r in rows]
    info = [{"Name": c, "Label": c, "Type": k} for c, k in zip(columns, kinds, strict=True)]
    body = {"region": region, "results": [{"rows": data, "column_info": info}]}
    response = requests.post(MOTO_ATHENA_RESULTS, json=body, timeout=10)
    response.raise_for_status()


class AthenaOnMoto(Engine):
    """The Athena engine against moto, fed DuckDB's answers over a copy of the bucket."""

    def __init__(self, bucket: str, region: str, prefix: str = "") -> None:
        super().__init__()
        self.bucket, self.region, self.prefix = bucket, region, prefix
        self.s3 = boto3.client("s3", region_name=region)
        athena = boto3.client("athena", region_name=region)
        if WORKGROUP not in [w["Name"] for w in athena.list_work_groups()["WorkGroups"]]:
            athena.create_work_group(
                Name=WORKGROUP,
                Configuration={
                    "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/athena-results/"},
                    "BytesScannedCutoffPerQuery": 10 * 2**30,
                },
            )
        self.athena = AthenaEngine(workgroup=WORKGROUP, database=DATABASE, client=athena, poll_s=0.0)
        self.athena.log = self.log
        self.submitted: list[str] = []

    def _mirror(self, query: Query, root: Path) -> None:
        prefixes = [f"predictions/{dt}/" for dt in query.hours]
        prefixes += [ACCEPTED_PREFIX] if query.reads_outcomes else []
        paginator = self.s3.get_paginator("list_objects_v2")
        for prefix in prefixes:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix) :]
                    target = root / key
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read())

    def run(self, query: Query) -> list[Row]:
        with tempfile.TemporaryDirectory(prefix="athena-moto-") as scratch:
            self._mirror(query, Path(scratch))
            engine = DuckDBEngine(Path(scratch))
            expected = engine.run(query)
            cursor = engine.connection.execute(query.sql)
            columns = [d[0] for d in cursor.description or []]
        queue_result(expected, columns, self.region)
        rows = self.athena.run(query)
        execution_ids = self.athena.client.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
        self.submitted.append(
            self.athena.client.get_query_execution(QueryExecutionId=execution_ids[-1])["QueryExecution"][
                "Query"
            ]
        )
        assert rows == expected, f"{query.name}: Athena's parsed rows differ from DuckDB's"
        return rows
