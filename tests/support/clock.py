"""Clocks a test controls."""

from __future__ import annotations

import itertools
from collections.abc import Callable


def ticking(step: float = 1.0) -> Callable[[], float]:
    """A clock that moves `step` seconds each time it is read."""
    ticks = itertools.count()
    return lambda: next(ticks) * step
