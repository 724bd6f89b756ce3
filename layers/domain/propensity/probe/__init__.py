"""Synthetic probe: call the public API as a consumer would, with the bundles' golden requests.

Each run checks ``/health``, ``/v1/predict`` and ``/v2/predict``: the status, the response
schema, that the answers match the golden outputs within tolerance, and latency. The result
is published as metrics (success and latency), which the critical probe alarm watches.
"""
