"""Progress for long steps: a live bar on a terminal, a few plain lines in logs.

A bar's carriage returns make a mess of CI and DVC logs, so away from a terminal
progress is one line at most every `every_seconds`, plus the last one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


class ProgressLines:
    """A tqdm-like counter that prints a plain line now and then."""

    def __init__(
        self, total: int, description: str, unit: str, initial: int = 0, every_seconds: float = 10.0
    ) -> None:
        self.total, self.description, self.unit = total, description, unit
        self.done = initial
        self.every_seconds = every_seconds
        self.started = self.last_report = time.monotonic()

    def update(self, amount: int = 1) -> None:
        self.done += amount
        now = time.monotonic()
        if self.done >= self.total or now - self.last_report >= self.every_seconds:
            percent = 100 * self.done / self.total if self.total else 100
            print(
                f"{self.description}: {self.done:,}/{self.total:,} {self.unit} "
                f"({percent:.0f}%, {now - self.started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
            self.last_report = now

    def __enter__(self) -> ProgressLines:
        return self

    def __exit__(self, *_: object) -> None:
        return None


def progress_bar(
    total: int, description: str, unit: str = "it", initial: int = 0
) -> tqdm | ProgressLines:
    """A context manager with `update(n)`: tqdm on a terminal, ProgressLines elsewhere."""
    if sys.stderr.isatty():
        return tqdm(
            total=total,
            initial=initial,
            desc=description,
            unit=unit,
            unit_scale=unit == "B",
            file=sys.stderr,
        )
    return ProgressLines(total, description, unit, initial)


def progress(items: Iterable[T], total: int, description: str, unit: str = "it") -> Iterator[T]:
    """Yield `items`, counting them on a progress bar."""
    with progress_bar(total, description, unit) as bar:
        for item in items:
            yield item
            bar.update(1)
