"""Load ``bank-full.csv`` from the UCI Bank Marketing archive, verified.

Source order: ``BANK_MARKETING_DATA`` (a zip or a csv), else a cached copy in a git-ignored
data folder, else the official UCI archive (downloaded once into that folder). What is read is
checked against the published SHA-256 and the expected columns; every failure says what was
wrong and what to do.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from propensity.constants import BANK_FULL_CSV, BANK_FULL_SHA256, UCI_ARCHIVE_URL
from propensity.features.domain import CSV_COLUMNS, TARGET, V1_SPEC

ENV_VAR = "BANK_MARKETING_DATA"
DEFAULT_CACHE_DIR = Path(".data")


class DataError(RuntimeError):
    """The data set is missing, corrupt, or not the Bank Marketing data."""


@dataclass(frozen=True)
class BankDataset:
    """The data set in columnar form, in file (date) order."""

    columns: dict[str, list[Any]]  # the 15 v1 inputs
    target: npt.NDArray[np.int8]  # 1 = subscribed ("yes")
    sha256: str  # of the csv bytes
    source: str
    # "YYYY-MM" per row when known from elsewhere (production rows: the month they were
    # scored); otherwise derived from the file order (propensity.data.months).
    months: npt.NDArray[np.str_] | None = None

    def __len__(self) -> int:
        return len(self.target)

    def take(self, rows: npt.NDArray[np.intp]) -> BankDataset:
        """The subset of rows at ``rows`` (in that order)."""
        picked = {name: [values[i] for i in rows] for name, values in self.columns.items()}
        months = None if self.months is None else self.months[rows]  # derive before take()
        return BankDataset(picked, self.target[rows], self.sha256, self.source, months)

    def calendar_months(self) -> npt.NDArray[np.str_]:
        """The calendar month ("YYYY-MM") of every row."""
        if self.months is not None:
            return self.months
        from propensity.data.months import month_keys

        keys = month_keys(self.columns["month"])
        object.__setattr__(self, "months", keys)  # derived once; the data class stays frozen
        return keys

    def records(self) -> list[dict[str, Any]]:
        """Row dicts, as a v1 consumer would send them."""
        names = list(self.columns)
        return [dict(zip(names, values, strict=True)) for values in zip(*self.columns.values(), strict=True)]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _csv_from_zip(blob: bytes, where: str) -> bytes:
    """Find bank-full.csv in bank.zip, or in bank+marketing.zip which wraps bank.zip."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(blob))
        names = archive.namelist()
        if BANK_FULL_CSV in names:
            return archive.read(BANK_FULL_CSV)
        if "bank.zip" in names:
            return _csv_from_zip(archive.read("bank.zip"), f"{where}!bank.zip")
    except zipfile.BadZipFile as error:
        raise DataError(f"{where} is not a readable zip archive ({error}); re-download it") from error
    raise DataError(f"{where} holds neither {BANK_FULL_CSV} nor bank.zip (found: {', '.join(names)})")


def read_source(path: Path) -> bytes:
    """The csv bytes from a zip or csv file."""
    if not path.exists():
        raise DataError(f"data file not found: {path} (set {ENV_VAR} to bank.zip or bank-full.csv)")
    blob = path.read_bytes()
    if path.suffix == ".zip" or blob[:4] == b"PK\x03\x04":
        return _csv_from_zip(blob, str(path))
    return blob


def parse_csv(raw: bytes, source: str) -> tuple[dict[str, list[Any]], npt.NDArray[np.int8]]:
    """Parse the semicolon-separated, quoted csv; check columns and value types."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{source} is not UTF-8 text: {error}") from error
    reader = csv.reader(io.StringIO(text), delimiter=";", quotechar='"')
    header = next(reader, None)
    if header is None:
        raise DataError(f"{source} is empty")
    if tuple(header) != CSV_COLUMNS:
        missing = [c for c in CSV_COLUMNS if c not in header]
        extra = [c for c in header if c not in CSV_COLUMNS]
        raise DataError(
            f"{source} has the wrong columns: missing {missing}, unexpected {extra}; "
            f"expected {list(CSV_COLUMNS)}"
        )
    numeric = {f.name for f in V1_SPEC.of_kind("numeric")}
    columns: dict[str, list[Any]] = {name: [] for name in V1_SPEC.names}
    target: list[int] = []
    for line, row in enumerate(reader, start=2):
        if len(row) != len(CSV_COLUMNS):
            raise DataError(f"{source} line {line}: {len(row)} fields, expected {len(CSV_COLUMNS)}")
        values = dict(zip(CSV_COLUMNS, row, strict=True))
        for name in V1_SPEC.names:
            value = values[name]
            try:
                columns[name].append(int(value) if name in numeric else value)
            except ValueError as error:
                raise DataError(f"{source} line {line}: {name}={value!r} is not an integer") from error
        if values[TARGET] not in ("yes", "no"):
            raise DataError(f"{source} line {line}: y={values[TARGET]!r}, expected yes or no")
        target.append(values[TARGET] == "yes")
    if not target:
        raise DataError(f"{source} has a header but no rows")
    return columns, np.array(target, dtype=np.int8)


def _download(url: str, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".part")
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (fixed https URL)
        partial.write_bytes(response.read())
    partial.replace(destination)


def locate(
    cache_dir: Path = DEFAULT_CACHE_DIR,
    downloader: Callable[[str, Path], None] = _download,
) -> Path:
    """Where the data comes from, following the documented source order."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured)
    for name in (BANK_FULL_CSV, "bank.zip", "bank+marketing.zip"):
        if (cache_dir / name).exists():
            return cache_dir / name
    target = cache_dir / "bank+marketing.zip"
    try:
        downloader(UCI_ARCHIVE_URL, target)
    except OSError as error:
        raise DataError(
            f"no data: {ENV_VAR} is unset, {cache_dir}/ has no copy, and downloading "
            f"{UCI_ARCHIVE_URL} failed ({error})"
        ) from error
    return target


def load_bank_marketing(
    path: Path | None = None,
    *,
    expected_sha256: str | None = BANK_FULL_SHA256,
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> BankDataset:
    """Load and verify the data set. ``expected_sha256=None`` skips the checksum (synthetic data)."""
    source = path if path is not None else locate(cache_dir)
    raw = read_source(source)
    digest = sha256_hex(raw)
    if expected_sha256 is not None and digest != expected_sha256:
        raise DataError(
            f"{source}: SHA-256 of {BANK_FULL_CSV} is {digest}, expected {expected_sha256}; "
            "the file is corrupt or not the UCI release: delete it and fetch it again"
        )
    columns, target = parse_csv(raw, str(source))
    return BankDataset(columns, target, digest, str(source))
