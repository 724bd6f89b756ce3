"""Outcome (label) ingestion: files dropped under ``labels/``, validated row by row.

Dropped files are never modified. What ingestion produces lives under ``outcomes/``
(content-addressed, so a file dropped twice is stored and counted once); see ``layout``.
"""
