"""Shared by every stage: typed params, errors, atomic writes, progress bars, the decode
cache's reader and the thread limits."""
