"""The promotion workflow: gate, challenger, approve, promote, rollback (see docs/promotion.md)."""
