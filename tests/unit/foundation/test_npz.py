"""``bundle.npz.load_npz`` gives what ``np.load`` gives, for every archive, damaged ones included."""

from __future__ import annotations

import io
import random
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from propensity.bundle.npz import NotPlainError, load_npz, stored_members

ARRAYS = {
    "feature": np.array([0, 3, -1, 2], dtype=np.int32),
    "threshold": np.array([0.5, np.nan, -np.inf, 1e300]),
    "missing_left": np.array([True, False, True, True]),
    "scalar": np.array(3.25),
    "empty": np.zeros((0, 4), dtype=np.float32),
    "matrix": np.arange(24, dtype=np.int64).reshape(2, 3, 4),
    "fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
    "text": np.array(["yes", "no"]),
}


def reference(path: Path) -> dict[str, Any] | type[BaseException]:
    """What np.load gives: the arrays, or the type of the error it raises."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except Exception as error:
        return type(error)


def ours(path: Path) -> dict[str, Any] | type[BaseException]:
    try:
        return load_npz(path)
    except Exception as error:
        return type(error)


def assert_same(
    expected: dict[str, Any] | type[BaseException], got: dict[str, Any] | type[BaseException]
) -> None:
    if isinstance(expected, type):
        assert isinstance(got, type), f"np.load raised {expected.__name__}, load_npz returned arrays"
        return
    assert isinstance(got, dict), f"np.load gave arrays, load_npz raised {got}"
    assert list(got) == list(expected)
    for name, array in expected.items():
        if not isinstance(array, np.ndarray):  # np.load gives other members' bytes as they are
            assert got[name] == array
            continue
        assert got[name].dtype == array.dtype and got[name].shape == array.shape
        np.testing.assert_array_equal(got[name], array)


@pytest.fixture
def savez(tmp_path: Path) -> Path:
    path = tmp_path / "model.npz"
    buffer = io.BytesIO()
    np.savez(buffer, **ARRAYS)  # as bundle.io.ensemble_bytes writes the artefact
    path.write_bytes(buffer.getvalue())
    return path


def test_a_savez_archive_is_read_without_zipfile_and_matches_np_load(savez):
    assert len(stored_members(savez.read_bytes())) == len(ARRAYS)
    assert_same(reference(savez), ours(savez))


def test_the_trained_artefact_matches_np_load(trained):
    path = trained["v2"].bundle_path / "model.npz"
    stored_members(path.read_bytes())  # the plain path, not the fallback
    assert_same(reference(path), ours(path))


def test_a_compressed_archive_goes_to_np_load(tmp_path):
    path = tmp_path / "c.npz"
    np.savez_compressed(path, **ARRAYS)
    with pytest.raises(NotPlainError):
        stored_members(path.read_bytes())
    assert_same(reference(path), ours(path))


def test_an_archive_with_a_comment_or_another_member_goes_to_np_load(savez, tmp_path):
    with zipfile.ZipFile(savez, "a") as archive:
        archive.comment = b"hello"
        archive.writestr("notes.txt", b"not an array")
    with pytest.raises(NotPlainError):
        stored_members(savez.read_bytes())
    assert_same(reference(savez), ours(savez))


def test_a_pickled_member_is_refused_as_np_load_refuses_it(tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, objects=np.array([{"a": 1}], dtype=object))
    assert reference(path) is ValueError
    assert ours(path) is ValueError


@pytest.mark.parametrize("seed", range(4))
def test_damaged_archives_give_np_loads_answer(savez, seed):
    # Given the archive with one byte changed at a random place, or cut short
    original = savez.read_bytes()
    rng = random.Random(seed)
    for _ in range(150):
        data = bytearray(original)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        else:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        savez.write_bytes(bytes(data))
        # Then both read the same arrays, or both raise
        assert_same(reference(savez), ours(savez))


def test_the_plain_path_does_not_import_zipfile(savez):
    code = (
        f"import sys, pathlib; from propensity.bundle.npz import load_npz; load_npz(pathlib.Path({str(savez)!r})); "
        "print('zipfile' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
