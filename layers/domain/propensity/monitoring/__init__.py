"""Monitoring maths shared by training, the gate, drift and evaluation jobs (numpy only)."""
