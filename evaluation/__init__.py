"""Evaluation: distances between metric distributions, benchmarks, reports."""
