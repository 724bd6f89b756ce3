"""The data loader: source order, checksum, clear errors."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from propensity.constants import BANK_FULL_SHA256, BANK_ROWS
from propensity.data import loader
from propensity.data.loader import DataError, load_bank_marketing, locate, sha256_hex
from propensity.data.synthetic import synthetic_csv
from propensity.features.domain import CSV_COLUMNS, V1_SPEC


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_synthetic_csv_loads_with_the_real_schema(synthetic_csv: Path) -> None:
    # Given a synthetic csv shaped like bank-full.csv
    # When it is loaded without a checksum requirement
    data = load_bank_marketing(synthetic_csv, expected_sha256=None)
    # Then every v1 input is present, typed, and the target is binary
    assert list(data.columns) == list(V1_SPEC.names)
    assert len(data) == 3000
    assert all(isinstance(v, int) for v in data.columns["age"])
    assert set(data.target.tolist()) == {0, 1}
    assert data.sha256 == sha256_hex(synthetic_csv.read_bytes())


def test_synthetic_generator_is_deterministic() -> None:
    assert synthetic_csv(500, seed=3) == synthetic_csv(500, seed=3)
    assert synthetic_csv(500, seed=3) != synthetic_csv(500, seed=4)


def test_missing_file_names_the_path_and_the_variable(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"not found: .*nope\.zip.*BANK_MARKETING_DATA"):
        load_bank_marketing(tmp_path / "nope.zip")


def test_bad_checksum_is_refused(synthetic_csv: Path) -> None:
    # Given a csv that is not the UCI release
    # When it is loaded with the published checksum
    # Then the error says the checksum differs and what to do
    with pytest.raises(DataError, match="SHA-256 of bank-full.csv is .* expected .*fetch it again"):
        load_bank_marketing(synthetic_csv, expected_sha256=BANK_FULL_SHA256)


def test_wrong_columns_are_named(tmp_path: Path) -> None:
    text = synthetic_csv(10).decode().replace('"duration"', '"call_length"', 1)
    path = tmp_path / "bank-full.csv"
    path.write_text(text)
    with pytest.raises(
        DataError, match=r"wrong columns: missing \['duration'\], unexpected \['call_length'\]"
    ):
        load_bank_marketing(path, expected_sha256=None)


def test_non_integer_value_names_line_and_field(tmp_path: Path) -> None:
    lines = synthetic_csv(5).decode().splitlines()
    fields = lines[2].split(";")
    fields[CSV_COLUMNS.index("age")] = '"forty"'
    lines[2] = ";".join(fields)
    path = tmp_path / "bank-full.csv"
    path.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"line 3: age='forty' is not an integer"):
        load_bank_marketing(path, expected_sha256=None)


def test_corrupt_zip_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bank.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(DataError, match="not a readable zip archive"):
        load_bank_marketing(path, expected_sha256=None)


def test_zip_without_the_csv_is_reported(tmp_path: Path) -> None:
    path = _zip(tmp_path / "bank.zip", {"readme.txt": b"hello"})
    with pytest.raises(DataError, match="holds neither bank-full.csv nor bank.zip"):
        load_bank_marketing(path, expected_sha256=None)


def test_outer_uci_archive_wrapping_bank_zip_is_read(tmp_path: Path) -> None:
    # The official download (bank+marketing.zip) wraps bank.zip, which holds the csv.
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("bank-full.csv", synthetic_csv(50))
    outer = _zip(tmp_path / "bank+marketing.zip", {"bank.zip": inner.getvalue(), "bank-additional.zip": b""})
    data = load_bank_marketing(outer, expected_sha256=None)
    assert len(data) == 50


def test_source_order_env_then_cache_then_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    downloads: list[str] = []

    def fake_download(url: str, destination: Path) -> None:
        downloads.append(url)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(b"x")

    # Given nothing configured and no cache: the official archive is downloaded into the cache
    monkeypatch.delenv(loader.ENV_VAR, raising=False)
    assert locate(cache, fake_download) == cache / "bank+marketing.zip"
    assert downloads == ["https://archive.ics.uci.edu/static/public/222/bank+marketing.zip"]
    # Given a cached copy: it is used, no second download
    assert locate(cache, fake_download) == cache / "bank+marketing.zip"
    assert len(downloads) == 1
    # Given the environment variable: it wins over the cache
    monkeypatch.setenv(loader.ENV_VAR, str(tmp_path / "mine.zip"))
    assert locate(cache, fake_download) == tmp_path / "mine.zip"


def test_download_failure_says_what_was_tried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(loader.ENV_VAR, raising=False)

    def offline(url: str, destination: Path) -> None:
        raise OSError("network unreachable")

    with pytest.raises(
        DataError, match=r"BANK_MARKETING_DATA is unset.*downloading .* failed \(network unreachable\)"
    ):
        locate(tmp_path, offline)


@pytest.mark.realdata
def test_real_data_matches_the_published_release(bank_data) -> None:
    assert len(bank_data) == BANK_ROWS
    assert bank_data.sha256 == BANK_FULL_SHA256
    assert "duration" not in bank_data.columns
    assert bank_data.target.mean() == pytest.approx(0.117, abs=0.001)
