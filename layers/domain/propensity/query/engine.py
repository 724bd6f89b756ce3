"""The query engine interface: run one ``Query``, get its (small) result rows back.

Two implementations, chosen once by ``open_engine``: DuckDB over a local archive folder (the
embedded default, the same files ``make run`` writes) and Athena over the Glue tables of the
archive bucket. Rows come back as dicts of Python values typed by the result's columns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from propensity.query.sql import Query

Row = dict[str, Any]


@dataclass
class QueryStats:
    """What a query cost: bytes scanned (Athena bills by it; DuckDB: bytes of the files read)."""

    name: str
    seconds: float
    bytes_scanned: int
    rows: int


@dataclass
class EngineLog:
    """Every query an engine ran, for the job's summary and the benchmarks."""

    queries: list[QueryStats] = field(default_factory=list)

    @property
    def bytes_scanned(self) -> int:
        return sum(q.bytes_scanned for q in self.queries)


class QueryError(RuntimeError):
    """A query failed (syntax, a missing table, the workgroup's scan limit, a timeout)."""


class Engine(ABC):
    """Runs the monitoring queries."""

    def __init__(self) -> None:
        self.log = EngineLog()

    @abstractmethod
    def run(self, query: Query) -> list[Row]:
        """The result rows of ``query``; ``QueryError`` when it fails."""
