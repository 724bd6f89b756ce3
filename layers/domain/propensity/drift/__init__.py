"""Input and prediction drift: the archive's last hour against the serving model's reference."""
