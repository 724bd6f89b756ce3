"""Delayed ground-truth evaluation: archived predictions joined with outcomes, per window.

``job.run_evaluation`` is the entry point (weekly Lambda and ``propensity evaluate``); the
maths comes from ``propensity.monitoring.metrics``; CBPE estimates live in ``cbpe``.
"""
