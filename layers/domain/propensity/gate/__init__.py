"""The offline promotion gate: is a challenger at least as good as the champion, overall and per segment?

``run_gate`` scores both bundles on the same fixed holdout and returns a ``GateReport``;
``record_verdict`` stores the verdict as a sealed gate record in the registry; ``render_markdown`` and
``write_reports`` produce the reports for people and machines. See docs/promotion.md.
"""
