"""Choosing the engine once, from the archive location and the job's settings."""

from __future__ import annotations

from pathlib import Path

from propensity.query.engine import Engine


def open_engine(
    archive_location: str | Path, *, workgroup: str | None = None, database: str | None = None
) -> Engine:
    """Athena for an ``s3://`` archive (its workgroup and Glue database are required), else DuckDB."""
    where = str(archive_location)
    if where.startswith("s3://"):
        if not workgroup or not database:
            raise ValueError("an S3 archive is queried with Athena: set ATHENA_WORKGROUP and GLUE_DATABASE")
        from propensity.query.athena import AthenaEngine

        return AthenaEngine(workgroup=workgroup, database=database)
    from propensity.query.duckdb_engine import DuckDBEngine

    return DuckDBEngine(Path(where))
