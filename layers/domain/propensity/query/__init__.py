"""The monitoring jobs' data access: one SQL text per query, run by DuckDB locally or Athena in AWS.

The engines aggregate (counts per bin, per category, per score bin, the prediction-outcome
join); the library does the maths on the small results (PSI, AUC, ECE, CBPE, alarms).
"""
