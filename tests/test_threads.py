"""CATDOG_WORKERS: each of N concurrent trainings gets its share of the cores."""

from __future__ import annotations

import pytest

from stages.core.errors import CatdogError
from stages.core.threads import threads_per_worker, usable_cores


def test_unset_leaves_the_backend_defaults() -> None:
    assert threads_per_worker({}) is None
    assert threads_per_worker({"CATDOG_WORKERS": " "}) is None


@pytest.mark.parametrize("workers", [1, 2, 3, 1000])
def test_each_worker_gets_its_share_and_at_least_one_thread(workers) -> None:
    expected = max(1, usable_cores() // workers)
    assert threads_per_worker({"CATDOG_WORKERS": str(workers)}) == expected


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_value_is_one_line_naming_the_variable(value) -> None:
    with pytest.raises(CatdogError, match=r"^CATDOG_WORKERS: must be a positive integer"):
        threads_per_worker({"CATDOG_WORKERS": value})
