"""Calendar months of the Bank Marketing rows, derived from the file order.

``bank-full.csv`` has a ``month`` column (jan..dec) but no year. The UCI documentation says
the rows are ordered by date, from May 2008 to November 2010, so the year is recovered by
walking the file: it starts at 2008 and a new year starts whenever the month number drops
(dec -> jan, or e.g. nov -> feb when a month has no calls). The file then yields 31 months,
2008-05 .. 2010-11 (2008-09 has no rows). Walking any other ordering gives nonsense, so the
derivation refuses rows whose year would run past the documented end.

Backtests (train on the months before M, test on M) and the time-aware gate use these keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from propensity.features.domain import MONTHS

FIRST_YEAR: Final = 2008
LAST_MONTH: Final = "2010-11"  # documented end of the data; derivation refuses to run past it
_NUMBER: Final = {name: i + 1 for i, name in enumerate(MONTHS)}


class MonthError(ValueError):
    """The month column cannot be turned into calendar months."""


def month_keys(
    month_names: Sequence[str], first_year: int = FIRST_YEAR, last: str | None = LAST_MONTH
) -> npt.NDArray[np.str_]:
    """``"YYYY-MM"`` per row, in file order (a new year whenever the month number drops)."""
    try:
        numbers = np.array([_NUMBER[name] for name in month_names], dtype=np.int64)
    except KeyError as error:
        raise MonthError(
            f"unknown month name {error.args[0]!r}; expected one of {', '.join(MONTHS)}"
        ) from None
    if numbers.size == 0:
        return np.array([], dtype="<U7")
    years = first_year + np.concatenate([[0], np.cumsum(np.diff(numbers) < 0)])
    keys = np.char.add(np.char.add(years.astype(str), "-"), np.char.zfill(numbers.astype(str), 2))
    if last is not None and keys[-1] > last:
        raise MonthError(
            f"the rows run to {keys[-1]}, past the documented end {last}: the file is not in date "
            "order (was it shuffled or concatenated?)"
        )
    return keys


def ordered_months(keys: npt.NDArray[np.str_]) -> list[str]:
    """Distinct month keys in calendar order."""
    return sorted({str(k) for k in keys})
