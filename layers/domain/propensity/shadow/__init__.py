"""Shadow scoring: the registry's challenger scores real archived requests, off the serving path."""
