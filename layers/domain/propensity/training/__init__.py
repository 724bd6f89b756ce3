"""Training: reproducible splits, model fitting, evaluation and bundle writing (uses scikit-learn)."""
