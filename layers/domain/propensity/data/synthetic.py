"""A small deterministic stand-in for bank-full.csv, for unit tests that need no real data.

Same columns and value sets; the label depends on a few features (poutcome, contact, month,
age, balance) so that a model can learn something, and the "yes" rate rises along the file
like the real data's does.
"""

from __future__ import annotations

import csv
import io
import math
import random
from pathlib import Path

from propensity.features import domain


def synthetic_csv(rows: int = 2000, seed: int = 7) -> bytes:
    """Bytes of a semicolon-separated, quoted csv shaped like bank-full.csv."""
    rng = random.Random(seed)
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=";", quotechar='"', quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n"
    )
    writer.writerow(domain.CSV_COLUMNS)
    for i in range(rows):
        progress = i / max(rows - 1, 1)
        previous = rng.choice([0, 0, 0, 1, 2, 3])
        pdays = -1 if previous == 0 else rng.randint(1, 400)
        poutcome = "unknown" if previous == 0 else rng.choice(["failure", "other", "success"])
        contact = rng.choices(domain.CONTACT, weights=[0.5 + progress, 0.1, 0.6 - 0.5 * progress])[0]
        age = rng.randint(18, 95)
        balance = int(rng.gauss(1300, 3000))
        month = rng.choice(domain.MONTHS)
        logit = (
            -3.2
            + 2.0 * progress
            + 2.2 * (poutcome == "success")
            + 0.8 * (contact == "cellular")
            + 0.7 * (month in ("mar", "sep", "oct", "dec"))
            + 0.02 * max(age - 60, 0)
            + 0.00008 * balance
        )
        label = "yes" if rng.random() < 1 / (1 + math.exp(-logit)) else "no"
        writer.writerow(
            [
                age,
                rng.choice(domain.JOBS),
                rng.choice(domain.MARITAL),
                rng.choice(domain.EDUCATION),
                rng.choice(["no"] * 49 + ["yes"]),
                balance,
                rng.choice(domain.YES_NO),
                rng.choice(["no"] * 5 + ["yes"]),
                contact,
                rng.randint(1, 31),
                month,
                rng.randint(5, 900),
                rng.randint(1, 10),
                pdays,
                previous,
                poutcome,
                label,
            ]
        )
    return buffer.getvalue().encode("utf-8")


def write_synthetic_csv(path: Path, rows: int = 2000, seed: int = 7) -> Path:
    """Write the synthetic csv to ``path`` and return it."""
    path.write_bytes(synthetic_csv(rows, seed))
    return path
