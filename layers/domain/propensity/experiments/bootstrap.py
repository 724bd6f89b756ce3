"""Bootstrap intervals: over customers for experiments, paired over rows for the shadow comparison.

Experiments: rows of one customer are not independent (the same person, the same outcome
pattern), so a resample draws *customers* with replacement and keeps all of each drawn
customer's rows (a cluster bootstrap). The two arms hold different customers, so each arm is
resampled on its own and the difference of the replicates gives the interval on the
difference.

Shadow: champion and challenger scored the *same* rows, so one resample of rows is applied to
both (a paired bootstrap); the pairing removes the rows' shared luck from the difference.

Resamples are weight matrices ``(rows, resamples)`` in blocks, as in ``propensity.gate.bootstrap``,
whose vectorised ROC AUC (``Ranked``) is reused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from propensity.gate.bootstrap import Ranked, resample_weights

Floats = npt.NDArray[np.float64]
BLOCK: Final[int] = 200


def cluster_weights(cluster: npt.NDArray[np.intp], resamples: int, seed: int) -> Iterator[Floats]:
    """Blocks of row weights: each block's columns are resamples of the clusters with replacement."""
    rng = np.random.default_rng(seed)
    clusters = int(cluster.max()) + 1 if cluster.size else 0
    done = 0
    while done < resamples:
        size = min(BLOCK, resamples - done)
        if clusters == 0:
            yield np.zeros((0, size))
        else:
            draws = rng.integers(0, clusters, size=(size, clusters))
            flat = (draws + (np.arange(size) * clusters)[:, None]).ravel()
            counts = np.bincount(flat, minlength=size * clusters).reshape(size, clusters)
            yield counts[:, cluster].T.astype(np.float64)
        done += size


def percentile_interval(replicates: Floats, confidence: float) -> tuple[float | None, float | None]:
    finite = replicates[np.isfinite(replicates)]
    if finite.size < 10:
        return None, None
    tail = (1 - confidence) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return float(low), float(high)


def paired_auc_difference(
    y: npt.NDArray[Any], champion: Floats, challenger: Floats, resamples: int, seed: int
) -> Floats:
    """ROC AUC of the challenger minus the champion's, per paired (class-stratified) resample."""
    y = np.asarray(y)
    ranked_a, ranked_b = Ranked.build(y, champion), Ranked.build(y, challenger)
    blocks = [ranked_b.areas(w)[0] - ranked_a.areas(w)[0] for w in resample_weights(y, resamples, seed)]
    return np.concatenate(blocks) if blocks else np.zeros(0)
