"""Helpers shared by the tests and the benchmarks, imported as `tests.support.<module>`
(the repository root is on the import path: pytest's `pythonpath`, or `python -m` from the
root). conftest.py holds only fixtures; no test imports from another test file."""
