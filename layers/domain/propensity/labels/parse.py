"""Parse and validate a dropped label file row by row (CSV with a header, or JSON lines).

Columns / keys: ``prediction_id``, ``outcome`` (yes/no), ``outcome_date`` (ISO date), and
``customer_ref`` (optional; a row needs a prediction id, a customer reference, or both).
A bad row is rejected with its reason and never stops the others, whatever is wrong with it
(a CSV field over the csv module's limit, JSON nested too deep, a number too long to read):
every per-row failure is a reject, never an exception. A file that cannot be read at all
(bad gzip, not UTF-8, no header, larger than ``MAX_LABEL_TEXT_BYTES``) yields one reject for
line 0 and no rows.

Size limits: a label file's text (after gunzip) is at most ``MAX_LABEL_TEXT_BYTES`` (16 MiB)
and ``MAX_LABEL_ROWS`` (100,000) rows; a bigger file is rejected whole, asking to split it.
Decompression is streamed and stops one byte past
the limit, so a small "gzip bomb" costs at most the limit in memory, not what it expands to;
peak memory of decompression is at most about twice the limit (the output buffer grows by
copying), so the ingestion function (512 MB) holds a file at the limit with room to spare
(docs/reliability.md has the measured peak).
"""

from __future__ import annotations

import csv
import itertools
import json
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final

from propensity.constants import MAX_CUSTOMER_REF_LENGTH, MAX_PREDICTION_ID_LENGTH
from propensity.labels.layout import GZIP_SUFFIX
from propensity.labels.models import RejectedRow

ID_COLUMNS: Final = ("prediction_id", "customer_ref")
REQUIRED_COLUMNS: Final = ("outcome", "outcome_date")
KNOWN_COLUMNS: Final = (*ID_COLUMNS, *REQUIRED_COLUMNS)
OUTCOMES: Final = {"yes": "yes", "no": "no"}
MAX_LABEL_TEXT_BYTES: Final[int] = 16 * 1024 * 1024
# Memory grows with rows more than bytes (about 2 KB per accepted row, measured: 150,000 rows
# of 104 bytes peaked at 418 MB RSS). 100,000 rows stay near 320 MB, well inside the
# function's 512 MB. Split bigger exports.
MAX_LABEL_ROWS: Final[int] = 100_000
_CHUNK: Final[int] = 1024 * 1024


@dataclass(frozen=True)
class ValidRow:
    """A row that passed validation, before provenance is attached."""

    row: int
    prediction_id: str | None
    customer_ref: str | None
    outcome: str
    outcome_date: date


@dataclass
class ParsedFile:
    rows: int = 0
    valid: list[ValidRow] = field(default_factory=list)
    rejects: list[RejectedRow] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


class UnreadableFileError(ValueError):
    """The file as a whole cannot be read (its rows are never looked at)."""


def gunzip_bounded(data: bytes, limit: int = MAX_LABEL_TEXT_BYTES) -> bytearray:
    """Decompress every gzip member of ``data``, refusing output beyond ``limit`` bytes.

    ``gzip.decompress`` has no bound: 400 KB of zeros expand to 400 MB. Here each step may
    produce at most what is left of the limit (plus one byte, to tell "exactly at" from
    "over"), so memory never exceeds the limit whatever the input claims.
    """
    out = bytearray()
    pending = data
    while pending:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        chunk = pending
        while not inflater.eof:
            before = (len(out), len(chunk))
            try:
                out += inflater.decompress(chunk, limit - len(out) + 1)
            except zlib.error as error:
                raise UnreadableFileError(f"not a readable gzip file: {error}") from error
            if len(out) > limit:
                raise UnreadableFileError(f"decompresses to more than the {limit:,}-byte limit")
            chunk = inflater.unconsumed_tail
            if (len(out), len(chunk)) == before:  # no input left and no output: the stream ends early
                raise UnreadableFileError("not a readable gzip file: truncated (no end of stream)")
        # Concatenated members (``cat a.gz b.gz``) are one valid gzip file; trailing zero
        # padding (some transfer tools add it) is not another member.
        pending = inflater.unused_data.lstrip(b"\x00")
    return out  # not copied into bytes: at the limit that copy would double the peak


def decode(key: str, data: bytes, limit: int = MAX_LABEL_TEXT_BYTES) -> str:
    """Text of a dropped file: gunzip when compressed, UTF-8 (an Excel BOM is tolerated)."""
    raw: bytes | bytearray = data
    if key.lower().endswith(GZIP_SUFFIX) or data[:2] == b"\x1f\x8b":
        raw = gunzip_bounded(data, limit)
    elif len(data) > limit:
        raise UnreadableFileError(f"larger than the {limit:,}-byte limit ({len(data):,} bytes)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFileError(f"not UTF-8 text: {error}") from error


def _text(value: Any, name: str = "value") -> str | None:
    if value is None:
        return None
    # Identifiers and dates are text; a JSON number is tolerated as an id, a list, object or
    # boolean is a mistake in the export, not something to stringify.
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{name} must be text, got {type(value).__name__}")
    text = str(value).strip()
    return text or None


def _parse_date(value: Any) -> date:
    text = _text(value, "outcome_date")
    if text is None:
        raise ValueError("outcome_date is missing")
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"outcome_date {text!r} is not an ISO date (YYYY-MM-DD)") from None
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


def validate_row(row: int, values: Mapping[str, Any], today: date) -> ValidRow:
    """One row's fields, checked; ``ValueError`` says what is wrong with it."""
    prediction_id = _text(values.get("prediction_id"), "prediction_id")
    customer_ref = _text(values.get("customer_ref"), "customer_ref")
    if prediction_id is None and customer_ref is None:
        raise ValueError("neither prediction_id nor customer_ref is given")
    if prediction_id is not None and len(prediction_id) > MAX_PREDICTION_ID_LENGTH:
        raise ValueError(f"prediction_id is longer than {MAX_PREDICTION_ID_LENGTH} characters")
    if customer_ref is not None and len(customer_ref) > MAX_CUSTOMER_REF_LENGTH:
        raise ValueError(f"customer_ref is longer than {MAX_CUSTOMER_REF_LENGTH} characters")
    raw_outcome = values.get("outcome")
    outcome = OUTCOMES.get(str(raw_outcome).strip().lower()) if isinstance(raw_outcome, str) else None
    if outcome is None:
        raise ValueError(f"outcome must be 'yes' or 'no', got {raw_outcome!r}")
    outcome_date = _parse_date(values.get("outcome_date"))
    if outcome_date > today:
        raise ValueError(f"outcome_date {outcome_date} is in the future (today is {today})")
    return ValidRow(row, prediction_id, customer_ref, outcome, outcome_date)


def _csv_rows(text: str, parsed: ParsedFile) -> Iterator[tuple[int, str, Mapping[str, Any] | None, str]]:
    """(line, raw text, values or None, reason) per data row of a CSV file with a header."""
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise UnreadableFileError("the CSV file is empty or has no header line")
    # Spreadsheets in many locales export with ';' (as the bank's own data set does).
    delimiter = max(",;\t", key=lines[0].count)
    try:
        header = [name.strip().lower() for name in next(csv.reader([lines[0]], delimiter=delimiter))]
    except csv.Error as error:
        raise UnreadableFileError(f"the header line is not valid CSV: {error}") from error
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing or not any(c in header for c in ID_COLUMNS):
        wanted = missing or ["prediction_id or customer_ref"]
        raise UnreadableFileError(f"the header {header} lacks {', '.join(wanted)}")
    parsed.ignored_columns = [name for name in header if name not in KNOWN_COLUMNS]
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            fields = next(csv.reader([line], delimiter=delimiter))
        except csv.Error as error:
            # e.g. "field larger than field limit (131072)": this row only, the others go on.
            yield number, line, None, f"not a valid CSV row: {error}"
            continue
        if len(fields) != len(header):
            yield number, line, None, f"{len(fields)} fields where the header has {len(header)}"
            continue
        yield number, line, dict(zip(header, fields, strict=True)), ""


def _jsonl_rows(text: str) -> Iterator[tuple[int, str, Mapping[str, Any] | None, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            yield number, line, None, f"not valid JSON: {error.msg}"
            continue
        except (ValueError, RecursionError) as error:
            # A number longer than int() accepts (ValueError), or arrays nested past the
            # interpreter's recursion limit: both are bad rows, not a crashed ingestion.
            yield number, line, None, f"not readable JSON: {type(error).__name__}"
            continue
        if not isinstance(value, dict):
            yield number, line, None, f"expected a JSON object, got {type(value).__name__}"
            continue
        yield number, line, value, ""


MAX_REJECT_REASON: Final[int] = 500
MAX_REJECT_CONTENT: Final[int] = 2000


def _reject(row: int, reason: str, line: str) -> RejectedRow:
    """A reject whose text stays readable: a 200 KB field is shown cut, with its length."""
    if len(line) > MAX_REJECT_CONTENT:
        line = f"{line[:MAX_REJECT_CONTENT]}… ({len(line):,} characters in all)"
    return RejectedRow(row=row, reason=reason[:MAX_REJECT_REASON], content=line)


def parse_label_file(key: str, data: bytes, file_format: str, today: date) -> ParsedFile:
    """Validate every row of a dropped file; duplicates inside the file keep the first row."""
    parsed = ParsedFile()
    try:
        text = decode(key, data)
        rows = _csv_rows(text, parsed) if file_format == "csv" else _jsonl_rows(text)
        first = next(rows, None)  # the header is checked here, before any row is counted
    except UnreadableFileError as error:
        parsed.rejects.append(RejectedRow(row=0, reason=f"file rejected: {error}", content=""))
        return parsed
    first_seen: dict[tuple[str, str], int] = {}
    for number, line, values, reason in itertools.chain([first] if first else [], rows):
        parsed.rows += 1
        if parsed.rows > MAX_LABEL_ROWS:
            reason = f"file rejected: more than {MAX_LABEL_ROWS:,} rows (split it into smaller files)"
            return ParsedFile(rows=parsed.rows, rejects=[RejectedRow(row=0, reason=reason, content="")])
        if values is None:
            parsed.rejects.append(_reject(number, reason, line))
            continue
        try:
            valid = validate_row(number, values, today)
        except ValueError as error:
            parsed.rejects.append(_reject(number, str(error), line))
            continue
        # One outcome per prediction (or per customer and date) in a file; a repeat is a
        # mistake the sender should see rather than a silent overwrite.
        identity = (
            ("prediction_id", valid.prediction_id)
            if valid.prediction_id
            else ("customer_ref", f"{valid.customer_ref}@{valid.outcome_date}")
        )
        if identity in first_seen:
            parsed.rejects.append(
                _reject(
                    number,
                    f"duplicate {identity[0]} {identity[1]!r}: already given on line {first_seen[identity]}",
                    line,
                )
            )
            continue
        first_seen[identity] = number
        parsed.valid.append(valid)
    return parsed
