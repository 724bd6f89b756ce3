"""DuckDB over the local archive folder: ``predictions/YYYY/MM/DD/HH/*.gz`` and ``outcomes/accepted/``.

For each query the engine defines the two tables as views over exactly the files the query
needs (the hours it names: the same pruning Athena's partition projection does), with the
columns and types of ``query.schema``. Malformed lines become rows of NULLs, as with the
Glue table's ``ignore.malformed.json``, so both engines count bad lines alike.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
import weakref
from pathlib import Path

from propensity.labels.layout import ACCEPTED_PREFIX
from propensity.query.engine import Engine, QueryError, QueryStats, Row
from propensity.query.schema import (
    OUTCOME_COLUMNS,
    OUTCOMES_TABLE,
    PARTITION_COLUMN,
    PREDICTION_COLUMNS,
    PREDICTIONS_TABLE,
    Column,
    duckdb_type,
    feature_types,
)
from propensity.query.sql import Query, literal

ARCHIVE_SUFFIXES = (".gz", ".jsonl", ".json", ".ndjson")


def _columns_spec(columns: tuple[Column, ...]) -> str:
    return "{" + ", ".join(f"{literal(c.name)}: {literal(duckdb_type(c.hive))}" for c in columns) + "}"


# ``features."name"`` in a query text; a bare ``features`` (the whole struct) matches with no name.
_FEATURE_REFERENCE = re.compile(r'\bfeatures\b(?:\."((?:[^"]|"")+)")?', re.IGNORECASE)


def prediction_columns(sql: str) -> tuple[Column, ...]:
    """The archive's columns as ``sql`` reads them: ``features`` holds only the fields it names.

    The JSON reader converts every field of a declared struct on every line, read or not, so
    a query that names 4 of the 30 feature fields (evaluation) need not convert the other 26.
    It changes no value: with ``ignore_errors`` a field of the wrong type is NULL on its own,
    it does not null its line, so the fields left out cannot change what the query reads. A
    query that uses the struct whole (or names none of its fields) gets every field.
    """
    names: set[str] = set()
    for match in _FEATURE_REFERENCE.finditer(sql):
        if match.group(1) is None:
            return PREDICTION_COLUMNS
        names.add(match.group(1).replace('""', '"'))
    types = feature_types()
    if not names or not names <= types.keys():
        return PREDICTION_COLUMNS
    fields = ",".join(f"{name}:{kind}" for name, kind in types.items() if name in names)
    return tuple(
        Column(c.name, f"struct<{fields}>", c.comment) if c.name == "features" else c
        for c in PREDICTION_COLUMNS
    )


def _empty(columns: tuple[Column, ...], extra: str = "") -> str:
    casts = ", ".join(f'CAST(NULL AS {duckdb_type(c.hive)}) AS "{c.name}"' for c in columns)
    return f"SELECT {casts}{extra} WHERE FALSE"


def _remove_spill(connection: object, folder: str) -> None:
    close = getattr(connection, "close", None)
    if close is not None:
        close()
    shutil.rmtree(folder, ignore_errors=True)


class DuckDBEngine(Engine):
    """Queries over an archive folder, in process. ``threads`` caps DuckDB's worker threads."""

    # 384 MB: the evaluation cube spills past either limit at 10M events; at 384 MB its process
    # peaks at about 505 instead of 625 MiB (flat in the events) for 0 to 12 % more time
    # (docs/performance.md, monitoring jobs).
    def __init__(self, root: Path | str, *, threads: int | None = None, memory_limit: str = "384MB") -> None:
        super().__init__()
        import duckdb  # only where DuckDB is the engine: the Lambda jobs use Athena

        self.root = Path(root)
        # Results are aggregates the library files by key: no query needs DuckDB to keep the
        # rows' file order, and dropping that lets the aggregates stream with less memory.
        #
        # ``grouping_sets`` off: DuckDB 2.0 otherwise runs a GROUPING SETS aggregate as one
        # aggregate per set over a materialised copy of its input; at 10M events that copy is
        # every joined event of the week (written past the memory limit, then read 5 times).
        # Without the rewrite one hash aggregate counts every set in one pass (same rows).
        #
        # Spills go to a folder of this engine's own (DuckDB's default is ``.tmp`` under the
        # working directory, and two processes sharing one would share spill file names),
        # removed with the engine.
        spill = tempfile.mkdtemp(prefix="propensity-duckdb-")
        self.connection = duckdb.connect(
            config={
                "memory_limit": memory_limit,
                "preserve_insertion_order": False,
                "disabled_optimizers": "grouping_sets",
                "temp_directory": spill,
            }
        )
        weakref.finalize(self, _remove_spill, self.connection, spill)
        if threads is not None:
            self.connection.execute(f"SET threads TO {int(threads)}")

    def _hour_files(self, dt: str) -> list[Path]:
        folder = self.root / "predictions" / dt
        if not folder.is_dir():
            return []
        return sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name.endswith(ARCHIVE_SUFFIXES)
        )

    def _define(self, query: Query) -> int:
        """Create the views the query reads; returns the bytes of the files behind them."""
        files = [path for dt in query.hours for path in self._hour_files(dt)]
        scanned = sum(p.stat().st_size for p in files)
        dt_from_path = (
            f", regexp_extract(filename, 'predictions/([0-9]{{4}}/[0-9]{{2}}/[0-9]{{2}}/[0-9]{{2}})/', 1) "
            f"AS {PARTITION_COLUMN}"
        )
        if files:
            columns = prediction_columns(query.sql)
            names = ", ".join(f'"{c.name}"' for c in columns)
            source = (
                f"SELECT {names}{dt_from_path} FROM read_json([{', '.join(literal(str(p)) for p in files)}], "
                f"format='newline_delimited', columns={_columns_spec(columns)}, "
                "ignore_errors=true, filename=true, hive_partitioning=false, maximum_object_size=16777216)"
            )
        else:
            source = _empty(PREDICTION_COLUMNS, f", CAST(NULL AS VARCHAR) AS {PARTITION_COLUMN}")
        self.connection.execute(f"CREATE OR REPLACE TEMP VIEW {PREDICTIONS_TABLE} AS {source}")
        if query.reads_outcomes:
            folder = self.root / ACCEPTED_PREFIX
            outcome_files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
            scanned += sum(p.stat().st_size for p in outcome_files)
            if outcome_files:
                source = (
                    f"SELECT * FROM read_json([{', '.join(literal(str(p)) for p in outcome_files)}], "
                    f"format='newline_delimited', columns={_columns_spec(OUTCOME_COLUMNS)}, "
                    "ignore_errors=true)"
                )
            else:
                source = _empty(OUTCOME_COLUMNS)
            self.connection.execute(f"CREATE OR REPLACE TEMP VIEW {OUTCOMES_TABLE} AS {source}")
        return scanned

    def run(self, query: Query) -> list[Row]:
        import duckdb

        started = time.perf_counter()
        try:
            scanned = self._define(query)
            cursor = self.connection.execute(query.sql)
            names = [d[0] for d in cursor.description or []]
            rows: list[Row] = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        except duckdb.Error as error:
            raise QueryError(f"{query.name}: {error}") from error
        self.log.queries.append(QueryStats(query.name, time.perf_counter() - started, scanned, len(rows)))
        return rows
