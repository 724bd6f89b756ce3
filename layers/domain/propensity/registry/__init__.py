"""The model registry: bundles by API version and model version, and movable aliases."""
