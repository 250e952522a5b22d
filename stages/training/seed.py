"""Seed every random number generator the pipeline uses, from one params value."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and Keras; on TensorFlow also make its ops deterministic.

    `keras.utils.set_random_seed` alone does not make TensorFlow's ops deterministic,
    hence `enable_op_determinism`. GPU kernels and wall-clock timings stay outside
    what this can promise.
    """
    import keras

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
