"""The one monitoring page: ``propensity dashboard`` (see docs/monitoring.md)."""
