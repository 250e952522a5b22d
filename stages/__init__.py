"""The Dogs vs. Cats study as a DVC pipeline: one module per stage, plus shared helpers."""
