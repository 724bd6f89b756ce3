"""docs/reliability.md shows the counts of the test tables as they are now."""

from __future__ import annotations

from pathlib import Path

from tests.reliability_tables import END, START, markdown

ROOT = Path(__file__).resolve().parents[2]


def test_the_reliability_page_counts_match_the_test_tables():
    text = (ROOT / "docs" / "reliability.md").read_text()
    block = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert block == markdown(), "regenerate with: python -m tests.reliability_tables"
