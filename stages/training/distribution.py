"""`train.distribution`: train one variation on several devices of one machine.

`none` trains on the backend's default device. `data_parallel` copies the model onto
every device (the GPUs, or else the logical CPU devices) and splits each batch across
them: `tf.distribute.MirroredStrategy` on TensorFlow, `keras.distribution.DataParallel`
on JAX. `batch_size` stays the global batch, so a variation's params mean the same
thing on one device or on eight.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import keras

from stages.core.config import Distribution
from stages.core.errors import CatdogError


@contextlib.contextmanager
def distribution_scope(kind: Distribution) -> Iterator[int]:
    """Build and compile the model inside this block; it yields the number of replicas."""
    if kind == "none":
        yield 1
        return
    backend = keras.backend.backend()
    if backend == "tensorflow":
        with _mirrored() as replicas:
            yield replicas
    elif backend == "jax":
        with _data_parallel() as replicas:
            yield replicas
    else:
        raise CatdogError(
            f"train.distribution: data_parallel needs the tensorflow or jax backend (got {backend})"
        )


@contextlib.contextmanager
def _mirrored() -> Iterator[int]:
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    names = [device.name for device in devices]
    strategy = tf.distribute.MirroredStrategy(names)
    _announce(names)
    with strategy.scope():
        yield strategy.num_replicas_in_sync


@contextlib.contextmanager
def _data_parallel() -> Iterator[int]:
    devices = keras.distribution.list_devices()
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    _announce(devices)
    try:
        yield len(devices)
    finally:
        keras.distribution.set_distribution(previous)


def steps_per_execution(requested: int) -> int:
    """`train.steps_per_execution`, or 1 inside a `tf.distribute` strategy: Keras' multi-step
    training loop fails there (an unfed placeholder in its `while` loop)."""
    if requested > 1 and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if tf.distribute.has_strategy():
            print(
                "train.distribution data_parallel on TensorFlow: 1 step per execution",
                file=sys.stderr,
            )
            return 1
    return requested


def _announce(devices: list[str]) -> None:
    print(
        f"train.distribution data_parallel: {len(devices)} replicas ({', '.join(devices)})",
        file=sys.stderr,
    )
