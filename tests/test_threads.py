"""CATDOG_WORKERS: each of N concurrent trainings gets its share of the cores."""

from __future__ import annotations

import pytest

from stages.core import threads
from stages.core.errors import CatdogError
from stages.core.threads import threads_per_worker, usable_cores


def test_unset_leaves_the_backend_defaults() -> None:
    assert threads_per_worker({}) is None
    assert threads_per_worker({"CATDOG_WORKERS": " "}) is None


@pytest.mark.parametrize(("workers", "expected"), [(1, 8), (2, 4), (3, 2), (5, 1), (1000, 1)])
def test_each_worker_gets_its_share_and_at_least_one_thread(monkeypatch, workers, expected) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    assert threads_per_worker({"CATDOG_WORKERS": str(workers)}) == expected


def test_usable_cores_is_the_affinity_mask_not_the_machine(monkeypatch) -> None:
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 64)
    assert usable_cores() == 3


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_value_is_one_line_naming_the_variable(value) -> None:
    with pytest.raises(CatdogError, match=r"^CATDOG_WORKERS: must be a positive integer"):
        threads_per_worker({"CATDOG_WORKERS": value})
