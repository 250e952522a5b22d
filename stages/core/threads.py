"""Share the CPU between trainings that run at once (`dvc queue start -j N`).

Each TensorFlow process sizes its thread pools to every core; N of them at once then
fight over the cores. `CATDOG_WORKERS=N` gives each `catdog train`/`evaluate` process
its share: `max(1, cores // N)` intra-op threads and one inter-op thread. Unset, the
backend's defaults (every core) stand.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from stages.core.errors import CatdogError

WORKERS_ENV = "CATDOG_WORKERS"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_per_worker(environ: Mapping[str, str] = os.environ) -> int | None:
    """Intra-op threads for one of `CATDOG_WORKERS` concurrent trainings; None if unset."""
    value = environ.get(WORKERS_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise CatdogError(f"{WORKERS_ENV}: must be a positive integer (got {value!r})")
    return max(1, usable_cores() // int(value))


def apply_thread_limit() -> int | None:
    """Cap this process's compute threads; call before Keras runs its first op."""
    threads = threads_per_worker()
    if threads is None:
        return None
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    print(
        f"catdog: {threads} of {usable_cores()} cores ({WORKERS_ENV}={os.environ[WORKERS_ENV]})",
        file=sys.stderr,
    )
    return threads
