"""The UCI Bank Marketing data: loading, verification, and a synthetic stand-in for unit tests."""
