"""All accepted outcomes, with duplicates across files resolved by one documented rule.

The same prediction can receive several outcomes (a correction file, an overlapping export).
Exactly one wins, chosen without regard to listing order:

1. the latest ``outcome_date`` (the most recent knowledge about the customer);
2. on the same date, the file ingested last (a re-sent, corrected export);
3. on a full tie, the larger file content hash, then the later row (arbitrary but stable).

Outcomes that carry only a ``customer_ref`` are kept apart; the evaluation join attributes
them to a prediction (in SQL: ``propensity.query.sql.evaluation_cube``) with the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from propensity.archive.store import ArchiveStore
from propensity.labels.layout import ACCEPTED_PREFIX
from propensity.labels.models import Outcome


def precedence(outcome: Outcome) -> tuple[object, ...]:
    """Sort key of the resolution rule: the largest key wins."""
    return (outcome.outcome_date, outcome.ingested_at, outcome.file_sha256, outcome.source_row)


@dataclass
class OutcomeBook:
    """Resolved outcomes by prediction id, and customer-reference outcomes awaiting a join."""

    by_prediction: dict[str, Outcome] = field(default_factory=dict)
    by_customer: dict[str, list[Outcome]] = field(default_factory=dict)
    # Prediction ids that received more than one outcome, and how many of them disagreed.
    duplicates: int = 0
    conflicts: int = 0
    files: int = 0

    def add(self, outcome: Outcome) -> None:
        """Add one outcome, resolving against an earlier one for the same prediction."""
        if outcome.prediction_id is None:
            if outcome.customer_ref is not None:
                self.by_customer.setdefault(outcome.customer_ref, []).append(outcome)
            return
        current = self.by_prediction.get(outcome.prediction_id)
        if current is None:
            self.by_prediction[outcome.prediction_id] = outcome
            return
        self.duplicates += 1
        if current.outcome != outcome.outcome:
            self.conflicts += 1
        if precedence(outcome) > precedence(current):
            self.by_prediction[outcome.prediction_id] = outcome

    def __len__(self) -> int:
        return len(self.by_prediction) + sum(len(v) for v in self.by_customer.values())


def load_outcomes(store: ArchiveStore) -> OutcomeBook:
    """Read every accepted-outcomes object once (one per distinct dropped content)."""
    book = OutcomeBook()
    for key in store.list(ACCEPTED_PREFIX):
        book.files += 1
        for line in store.get(key).splitlines():
            if line.strip():
                book.add(Outcome.model_validate_json(line))
    return book
