"""Feed one split's decoded photos to `fit`, batch by batch.

On TensorFlow, Keras turns NumPy arrays into a `tf.data` pipeline with autotuning on,
and builds a fresh iterator every epoch. Deleting the old one waits for the autotuner's
background thread, which gets little CPU time while training keeps every core busy:
epochs then stall for up to two seconds (see benchmarks/README.md). Our own pipeline
is the same vectorised design (shuffle the row numbers, gather each batch), with
autotuning off. Other backends take the arrays and Keras' own batching, which has no
such thread.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from stages.core.dataset import Split

PREFETCH_BATCHES = 2


def batches(
    images: np.ndarray, labels: np.ndarray, batch_size: int, shuffle_seed: int | None
):  # -> tf.data.Dataset; tensorflow is imported lazily
    """(images, labels) batches, reshuffled every epoch when `shuffle_seed` is given."""
    import tensorflow as tf

    images, labels = tf.constant(images), tf.constant(labels)
    rows = tf.data.Dataset.range(len(labels))
    if shuffle_seed is not None:
        rows = rows.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = rows.batch(batch_size).map(
        lambda batch: (tf.gather(images, batch), tf.gather(labels, batch))
    )
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(PREFETCH_BATCHES).with_options(options)


def fit_data(train: Split, test: Split, batch_size: int, seed: int) -> dict[str, Any]:
    """`fit`'s data arguments: the training split shuffled every epoch, the test split as
    validation data."""
    if keras.backend.backend() != "tensorflow":
        return {
            "x": train.images,
            "y": train.labels,
            "batch_size": batch_size,
            "shuffle": True,
            "validation_data": (test.images, test.labels),
        }
    return {
        "x": batches(train.images, train.labels, batch_size, shuffle_seed=seed),
        "shuffle": False,  # the pipeline reshuffles itself
        "validation_data": batches(test.images, test.labels, batch_size, shuffle_seed=None),
    }
