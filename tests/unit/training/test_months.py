"""Calendar months from the file order: a new year whenever the month number drops."""

from __future__ import annotations

import numpy as np
import pytest

from propensity.data.months import MonthError, month_keys, ordered_months


def test_a_new_year_starts_when_the_month_number_drops():
    keys = month_keys(["may", "may", "dec", "jan", "jan", "mar", "feb", "nov"], last=None)
    assert list(keys) == [
        "2008-05",
        "2008-05",
        "2008-12",
        "2009-01",
        "2009-01",
        "2009-03",
        "2010-02",  # mar -> feb drops: a new year even without a december in between
        "2010-11",
    ]


def test_a_month_without_rows_is_simply_absent():
    assert ordered_months(month_keys(["aug", "oct", "nov"])) == ["2008-08", "2008-10", "2008-11"]


def test_unknown_month_names_and_shuffled_files_are_refused():
    with pytest.raises(MonthError, match="unknown month name 'sept'"):
        month_keys(["may", "sept"])
    shuffled = ["may", "jan", "may", "jan", "may", "jan"]  # three year changes in six rows
    with pytest.raises(MonthError, match="past the documented end 2010-11"):
        month_keys(shuffled)


@pytest.mark.realdata
def test_the_real_file_runs_from_may_2008_to_november_2010(bank_data):
    keys = bank_data.calendar_months()
    months = ordered_months(keys)
    assert months[0] == "2008-05"
    assert months[-1] == "2010-11"
    assert len(months) == 30  # 2008-09 has no calls
    assert "2008-09" not in months
    assert int(np.sum(keys == "2008-05")) == 7957
    assert int(np.sum(keys == "2010-11")) == 75
    # the drift that makes the stratified holdout optimistic
    assert bank_data.target[keys == "2008-05"].mean() < 0.05
    assert bank_data.target[keys == "2010-03"].mean() > 0.5


def test_take_keeps_months_derived_on_the_whole_file(bank_data):
    keys = bank_data.calendar_months()
    rows = np.flatnonzero(keys >= "2010-01")
    assert set(bank_data.take(rows).calendar_months()) == {k for k in keys if k >= "2010-01"}
