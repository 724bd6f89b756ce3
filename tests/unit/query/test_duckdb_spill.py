"""The local engine spills into a folder of its own, never the working directory, and removes it."""

from __future__ import annotations

import gc
import os
from pathlib import Path

from propensity.query.duckdb_engine import DuckDBEngine


def test_spills_go_to_the_engines_own_folder_and_leave_with_it(tmp_path, monkeypatch):
    # Given an engine whose memory limit a window over 3M rows of text exceeds (about 150 MB
    # to sort at 40 MB), run from an empty folder
    monkeypatch.chdir(tmp_path)
    engine = DuckDBEngine(tmp_path / "archive", threads=1, memory_limit="40MB")
    spill = Path(engine.connection.execute("SELECT current_setting('temp_directory')").fetchone()[0])
    rows = engine.connection.execute(
        "SELECT max(n) FROM (SELECT row_number() OVER (ORDER BY md5(i::VARCHAR)) AS n FROM range(3000000) t(i))"
    ).fetchone()
    # Then the query ran, nothing was written under the working directory, and the spill
    # folder is a fresh one of its own that goes away with the engine
    assert rows == (3000000,)
    assert os.listdir(tmp_path) == []
    assert spill.name.startswith("propensity-duckdb-") and spill.is_dir()
    del engine
    gc.collect()
    assert not spill.exists()
