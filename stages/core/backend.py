"""`train.backend`: which Keras backend trains, chosen before Keras is imported.

`auto` takes JAX where JAX sees a GPU (there the device-resident engine,
`stages/training/resident.py`, keeps the GPU busy) and TensorFlow otherwise (on a CPU,
TensorFlow's oneDNN kernels train several times faster than XLA's: benchmarks/README.md).
"""

from __future__ import annotations

import importlib.util
import os
import sys

from stages.core.config import Backend
from stages.core.errors import CatdogError
from stages.core.warm import ColdStartNeeded, in_warm_child

KERAS_BACKEND = "KERAS_BACKEND"


def jax_sees_a_gpu() -> bool:
    """Whether JAX is installed and its default device is a GPU."""
    if importlib.util.find_spec("jax") is None:
        return False
    import jax

    return jax.default_backend() == "gpu"


def resolve_backend(requested: Backend) -> str:
    """The backend `requested` names: itself, or for `auto` JAX on a GPU, else TensorFlow."""
    if requested != "auto":
        return requested
    return "jax" if jax_sees_a_gpu() else "tensorflow"


def use_backend(requested: Backend) -> str:
    """Make Keras load the backend `requested` resolves to, and return its name.

    Keras reads `KERAS_BACKEND` once, when it is first imported; a process that already
    imported it with another backend is refused rather than silently trained on it (a warm
    child, whose server preloaded it, asks its client to run the command cold instead).
    """
    backend = resolve_backend(requested)
    if "keras" in sys.modules:
        import keras

        loaded = keras.backend.backend()
        if loaded != backend and in_warm_child():
            raise ColdStartNeeded  # the warm server preloaded another backend
        if loaded != backend:
            raise CatdogError(
                f"train.backend: {requested} needs Keras' {backend} backend, but this "
                f"process already loaded {loaded}"
            )
        return backend
    os.environ[KERAS_BACKEND] = backend
    return backend
