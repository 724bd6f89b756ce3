"""Feature schemas and preprocessing, shared by training and serving so they cannot diverge."""
