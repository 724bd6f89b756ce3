"""The prediction archive: PredictionEvents as gzip JSON lines under predictions/YYYY/MM/DD/HH/."""
