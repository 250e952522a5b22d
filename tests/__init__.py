"""The tests (pytest), and their shared helpers in tests.support."""
