"""The speed measurements: `python -m benchmarks.<name>` from the repository root."""
