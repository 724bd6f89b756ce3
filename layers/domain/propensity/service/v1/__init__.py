"""API v1: the contract in production (CONTRACT-v1.md), deprecated in favour of v2."""
