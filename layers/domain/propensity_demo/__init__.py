"""Demo scenarios and benchmark generators: run from the command line, never shipped to Lambda.

The Lambda layer is built from ``layers/domain/propensity`` alone; this sibling package is
installed with the library for development, and the ``drift-demo`` and ``evaluate-demo``
commands import it only when they run.
"""
