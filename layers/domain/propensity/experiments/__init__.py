"""A/B experiments on outcomes: create-only records, sticky assignment, analysis with intervals."""
