"""Population stability index (PSI) between a reference distribution and a window's counts.

    PSI = sum over bins of (current_i - reference_i) * ln(current_i / reference_i)

with both sides as shares. A share of zero on either side is floored at ``epsilon`` (policy:
``DriftThresholds.psi_epsilon``): a category the reference never saw then contributes a large
but finite term, and an empty bin in a small window does not make PSI infinite.

Rule of thumb used by the thresholds: below 0.1 stable, 0.1 to 0.2 moderate, above 0.2 moved.
Sampling noise alone gives PSI of about (bins - 1) / events, which is why windows under
``min_events_per_window`` are not judged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def shares(counts: Sequence[float]) -> list[float]:
    """Counts as shares of their total (all zeros when the total is zero)."""
    total = float(sum(counts))
    return [c / total if total else 0.0 for c in counts]


def psi(reference: Sequence[float], counts: Sequence[float], epsilon: float) -> float | None:
    """PSI of ``counts`` (one per bin) against ``reference`` shares (same bins); ``None`` if empty.

    ``reference`` must sum to about 1 over the same bins as ``counts``.
    """
    if len(reference) != len(counts):
        raise ValueError(f"PSI needs the same bins on both sides: {len(reference)} vs {len(counts)}")
    if sum(counts) <= 0:
        return None
    total = 0.0
    for expected, actual in zip(reference, shares(counts), strict=True):
        e, a = max(expected, epsilon), max(actual, epsilon)
        total += (a - e) * math.log(a / e)
    return total
