"""Model bundles: one immutable folder per trained model, described by its manifest."""
