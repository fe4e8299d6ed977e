"""Benchmarks of the telemetry pipeline; ``python -m benchmarks`` runs the suite (see benchmarks/suite.py)."""
