"""``propensity replay``: send real rows through a running server, as a consumer would.

Rows of the bank data (or any CSV / zip shaped like ``bank-full.csv``) go to ``/v1/predict``
one per request, or to ``/v2/predict`` (singles) or ``/v2/predict/batch`` (``--batch N``),
at ``--rate`` requests per second or as fast as ``--concurrency`` connections allow. A
progress bar runs on stderr; the summary gives rows sent, status counts and latency
percentiles. ``--labels FILE`` writes the rows' true outcomes as a labels file that
``propensity ingest-labels`` accepts, keyed by the v2 answers' ``prediction_id`` and the
``customer_ref`` replay sent (v1 answers carry no prediction id, so v1 cannot be labelled).

CLI only: nothing in the serving path imports this module.
"""

from __future__ import annotations

import argparse
import csv
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final, TextIO

import numpy as np

from propensity.cli import command
from propensity.constants import API_KEY_HEADER, API_VERSIONS, MAX_BATCH_RECORDS, ApiVersion

DEFAULT_URL: Final[str] = "http://127.0.0.1:8000"
DEFAULT_CONCURRENCY: Final[int] = 4
LABEL_COLUMNS: Final = ("prediction_id", "customer_ref", "outcome", "outcome_date")
LabelRow = tuple[str, str, str, str]


@dataclass(frozen=True)
class Row:
    """One data row: its position, the v1 body and the true outcome."""

    index: int
    v1_body: dict[str, Any]
    outcome: str  # "yes" / "no"


@dataclass
class ReplaySummary:
    """What was sent and what came back."""

    api: ApiVersion
    rows: int = 0  # rows sent (a batch counts its records)
    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    labels: int = 0  # rows written to the labels file

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def lines(self) -> list[str]:
        rate = self.requests / self.seconds if self.seconds else 0.0
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        out = [
            f"{self.api}: {self.rows} rows in {self.requests} requests, "
            f"{self.seconds:.1f} s ({rate:.0f} req/s)",
            f"status: {statuses or 'none'}",
        ]
        if self.latencies_ms:
            out.append(
                f"latency ms: p50 {self.percentile(50):.1f}  p95 {self.percentile(95):.1f}  "
                f"p99 {self.percentile(99):.1f}  max {max(self.latencies_ms):.1f}"
            )
        return out


def load_rows(data: str | None, offset: int = 0, limit: int | None = None) -> list[Row]:
    """Rows of the bank data (``$BANK_MARKETING_DATA`` or the cache by default), or of ``data``.

    A file given explicitly may be any CSV with ``bank-full.csv``'s columns, so its checksum
    is not required to be the UCI one.
    """
    from propensity.constants import BANK_FULL_SHA256
    from propensity.data.loader import load_bank_marketing

    dataset = load_bank_marketing(
        Path(data) if data else None, expected_sha256=None if data else BANK_FULL_SHA256
    )
    records = dataset.records()
    end = len(records) if limit is None else min(len(records), offset + limit)
    return [Row(i, records[i], "yes" if dataset.target[i] else "no") for i in range(max(offset, 0), end)]


def _v2_body(row: Row, run: str) -> dict[str, Any]:
    from propensity.features.translate import v1_to_v2

    return {**v1_to_v2(row.v1_body), "customer_ref": f"replay-{run}-{row.index}"}


class Progress:
    """A one-line progress bar on a terminal (a line every 10 % otherwise)."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total = max(total, 1)
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.started = time.perf_counter()
        self._shown = -1.0
        self._lock = threading.Lock()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            fraction = done / self.total
            now = time.perf_counter()
            if self.tty:
                if now - self._shown < 0.1 and done < self.total:
                    return
                self._shown = now
                width = 30
                filled = int(width * fraction)
                rate = done / max(now - self.started, 1e-9)
                self.stream.write(
                    f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} rows  {rate:,.0f} rows/s"
                )
                if done >= self.total:
                    self.stream.write("\n")
            elif int(fraction * 10) > self._shown:
                self._shown = int(fraction * 10)
                self.stream.write(f"{done}/{self.total} rows\n")
            self.stream.flush()


class Pacer:
    """Hands out send times ``1 / rate`` apart (``rate`` 0: no waiting)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = time.perf_counter()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            slot = max(self._next, time.perf_counter())
            self._next = slot + self.interval
        delay = slot - time.perf_counter()
        if delay > 0:
            time.sleep(delay)


def _chunks(rows: Sequence[Row], size: int) -> Iterator[Sequence[Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def replay(
    rows: Sequence[Row],
    *,
    url: str = DEFAULT_URL,
    api: ApiVersion = "v2",
    batch: int | None = None,
    rate: float = 0.0,
    concurrency: int = DEFAULT_CONCURRENCY,
    api_key: str | None = None,
    labels: Path | None = None,
    outcome_date: date | None = None,
    timeout_s: float = 30.0,
    progress: Progress | None = None,
) -> ReplaySummary:
    """Send ``rows`` to the server at ``url``; the summary (and the labels file, if asked)."""
    import httpx

    if batch is not None and api != "v2":
        raise ValueError("--batch needs --api v2 (v1 has no batch route)")
    if batch is not None and not 1 <= batch <= MAX_BATCH_RECORDS:
        raise ValueError(f"--batch must be between 1 and {MAX_BATCH_RECORDS}")
    if labels is not None and api != "v2":
        raise ValueError(
            "--labels needs --api v2: v1 answers carry no prediction id and v1 bodies no "
            "customer_ref, so outcomes could not be joined to v1 predictions"
        )
    if concurrency < 1:
        raise ValueError("--concurrency must be at least 1")
    run = uuid.uuid4().hex[:8]
    summary = ReplaySummary(api)
    label_rows: list[LabelRow] = []
    day = (outcome_date or datetime.now(UTC).date()).isoformat()
    lock = threading.Lock()
    pacer = Pacer(rate)
    done = 0
    path = "/v1/predict" if api == "v1" else ("/v2/predict/batch" if batch else "/v2/predict")
    headers = {API_KEY_HEADER: api_key} if api_key else {}
    groups = list(_chunks(rows, batch or 1))

    def send(client: httpx.Client, group: Sequence[Row]) -> None:
        nonlocal done
        if api == "v1":
            body: Any = group[0].v1_body
        elif batch:
            body = {"records": [_v2_body(r, run) for r in group]}
        else:
            body = _v2_body(group[0], run)
        pacer.wait()
        started = time.perf_counter()
        try:
            response = client.post(path, json=body, headers=headers)
            status = str(response.status_code)
            answer = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as error:
            status, answer = f"error:{type(error).__name__}", None
        elapsed = (time.perf_counter() - started) * 1000
        labelled: list[LabelRow] = []
        if labels is not None and isinstance(answer, dict):
            results = answer.get("results") if batch else [{"index": 0, **answer}]
            for result in results or []:
                if isinstance(result, dict) and "prediction_id" in result:
                    row = group[int(result["index"])]
                    labelled.append((result["prediction_id"], f"replay-{run}-{row.index}", row.outcome, day))
        with lock:
            summary.requests += 1
            summary.rows += len(group)
            summary.statuses[status] += 1
            summary.latencies_ms.append(elapsed)
            label_rows.extend(labelled)
            done += len(group)
            sent = done
        if progress is not None:
            progress.update(sent)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    started = time.perf_counter()
    with (
        httpx.Client(base_url=url, timeout=timeout_s, limits=limits) as client,
        ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="replay") as pool,
    ):
        for future in [pool.submit(send, client, group) for group in groups]:
            future.result()
    summary.seconds = time.perf_counter() - started
    if labels is not None:
        labels.parent.mkdir(parents=True, exist_ok=True)
        with labels.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(LABEL_COLUMNS)
            label_rows.sort(key=lambda row: row[1])
            writer.writerows(label_rows)
        summary.labels = len(label_rows)
    return summary


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the server (default {DEFAULT_URL})")
    parser.add_argument("--api", choices=API_VERSIONS, default="v2")
    parser.add_argument(
        "--data", default=None, help="a CSV or zip shaped like bank-full.csv (default: the bank data)"
    )
    parser.add_argument("--rows", type=int, default=None, help="send at most this many rows")
    parser.add_argument("--offset", type=int, default=0, help="skip this many rows first")
    parser.add_argument(
        "--batch", type=int, default=None, help=f"v2 only: records per batch (1-{MAX_BATCH_RECORDS})"
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="requests per second (default 0: as fast as possible)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="connections and threads"
    )
    parser.add_argument("--api-key", default=None, help=f"sent as {API_KEY_HEADER} (names the consumer)")
    parser.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="write the rows' outcomes here (v2; a CSV for ingest-labels)",
    )
    parser.add_argument(
        "--outcome-date",
        type=date.fromisoformat,
        default=None,
        help="outcome_date of the labels (default today)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


@command("replay", "send rows of the bank data (or a CSV) to a running server", _configure)
def _replay(args: argparse.Namespace) -> int:
    rows = load_rows(args.data, args.offset, args.rows)
    if not rows:
        print("error: no rows to send (check --offset and --rows)", file=sys.stderr)
        return 2
    summary = replay(
        rows,
        url=args.url,
        api=args.api,
        batch=args.batch,
        rate=args.rate,
        concurrency=args.concurrency,
        api_key=args.api_key,
        labels=args.labels,
        outcome_date=args.outcome_date,
        progress=Progress(len(rows), enabled=not args.quiet),
    )
    for line in summary.lines():
        print(line)
    if args.labels is not None:
        print(
            f"labels: {summary.labels} outcomes in {args.labels} (`propensity ingest-labels {args.labels}`)"
        )
    ok = summary.statuses.get("200", 0)
    return 0 if ok == summary.requests else 1
