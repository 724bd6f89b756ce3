"""API v2: grouped and renamed fields, booleans, a nullable history, warnings, batches."""
