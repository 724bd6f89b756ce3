"""Thresholds and policies, defined once with their defaults.

The library's jobs use these defaults; the CDK stage configuration (infra/config.py) embeds
the same models, so a stage can override a threshold and the alarm, the job and the docs all
read the one value.
"""
