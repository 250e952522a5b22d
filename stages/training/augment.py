"""The study's ImageDataGenerator augmentation as one backend-agnostic Keras layer.

Keras' separate RandomFlip, RandomRotation, RandomShear, RandomZoom and RandomTranslation
layers each resample the whole batch. Composing the five transforms into one affine
matrix per photo resamples it once, as ImageDataGenerator did: on the CPU the
augmentation costs about a fifth as much, and it is part of the compiled training step
on every backend (TensorFlow, JAX, PyTorch).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from stages.core.config import AugmentParams


class RandomAffine(keras.layers.Layer):
    """Random rotation, shear, zoom, shift and horizontal flip, in one bilinear resampling
    with the edge pixels repeated (ImageDataGenerator's `fill_mode="nearest"`).

    Ranges follow ImageDataGenerator: rotation and shear are angles in degrees, zoom draws
    the two scale factors independently from [1 - zoom, 1 + zoom], and shifts are
    fractions of the width and height. Active only in training.
    """

    def __init__(
        self,
        rotation: float = 0.0,
        shear: float = 0.0,
        zoom: float = 0.0,
        width_shift: float = 0.0,
        height_shift: float = 0.0,
        horizontal_flip: bool = False,
        seed: int | None = None,
        **kwargs,
    ) -> None:
        kwargs.setdefault("dtype", "float32")  # resample in float32 under mixed precision too
        super().__init__(**kwargs)
        self.rotation, self.shear, self.zoom = rotation, shear, zoom
        self.width_shift, self.height_shift = width_shift, height_shift
        self.horizontal_flip, self.seed = horizontal_flip, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, batch: int, low: float, high: float):
        return keras.random.uniform(
            (batch,), minval=low, maxval=high, seed=self.seed_generator, dtype="float32"
        )

    def transforms(self, batch: int, height: int, width: int):
        """One output-to-input affine map per photo, as the 8 numbers that
        `keras.ops.image.affine_transform` takes (pixel coordinates x = column, y = row)."""
        angle = self._uniform(batch, -math.radians(self.rotation), math.radians(self.rotation))
        shear = self._uniform(batch, -math.radians(self.shear), math.radians(self.shear))
        zoom_x = self._uniform(batch, 1.0 - self.zoom, 1.0 + self.zoom)
        zoom_y = self._uniform(batch, 1.0 - self.zoom, 1.0 + self.zoom)
        shift_x = self._uniform(batch, -self.width_shift, self.width_shift) * width
        shift_y = self._uniform(batch, -self.height_shift, self.height_shift) * height
        flip = ops.ones((batch,), "float32")
        if self.horizontal_flip:
            flip = ops.where(self._uniform(batch, 0.0, 1.0) < 0.5, -1.0, 1.0)

        # [[a, b], [c, d]] = rotation @ shear @ zoom @ flip, about the image centre.
        cos, sin = ops.cos(angle), ops.sin(angle)
        a = cos * zoom_x * flip
        b = (-cos * ops.sin(shear) - sin * ops.cos(shear)) * zoom_y
        c = sin * zoom_x * flip
        d = (-sin * ops.sin(shear) + cos * ops.cos(shear)) * zoom_y
        centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
        offset_x = centre_x - a * centre_x - b * centre_y + shift_x
        offset_y = centre_y - c * centre_x - d * centre_y + shift_y
        zeros = ops.zeros_like(a)
        return ops.stack([a, b, offset_x, c, d, offset_y, zeros, zeros], axis=1)

    def call(self, images, training: bool = False):
        if not training:
            return images
        shape = ops.shape(images)
        return ops.image.affine_transform(
            images,
            self.transforms(shape[0], images.shape[1], images.shape[2]),
            interpolation="bilinear",
            fill_mode="nearest",
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rotation": self.rotation,
            "shear": self.shear,
            "zoom": self.zoom,
            "width_shift": self.width_shift,
            "height_shift": self.height_shift,
            "horizontal_flip": self.horizontal_flip,
            "seed": self.seed,
        }


def build_augmentation(augment: AugmentParams, seed: int) -> RandomAffine:
    """The Kaggle kernel's ImageDataGenerator transforms, as one layer."""
    return RandomAffine(
        rotation=augment.rotation,
        shear=augment.shear,
        zoom=augment.zoom,
        width_shift=augment.width_shift,
        height_shift=augment.height_shift,
        horizontal_flip=augment.horizontal_flip,
        seed=seed,
        name="augmentation",
    )


# Random draws an epoch may make before the next epoch's range starts: about 6 per
# batch, so a million covers any epoch of the study.
DRAWS_PER_EPOCH = 1 << 20


class EpochSeededDraws(keras.callbacks.Callback):
    """Start each epoch's random draws (the augmentation's) at a point fixed by the epoch.

    Saved weights hold no random generator states, so a run resumed after a crash would
    otherwise replay the first epoch's draws; with this, it draws what an unbroken run
    of the same seed draws.
    """

    def __init__(self) -> None:
        super().__init__()
        self.first: list[np.ndarray] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.states = [
            variable
            for variable in self.model.non_trainable_variables
            if variable.path.endswith("seed_generator_state")
        ]
        if self.first is None:  # the states before any draw, kept over several `fit` calls
            self.first = [keras.ops.convert_to_numpy(state) for state in self.states]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for state, first in zip(self.states, self.first or [], strict=True):
            state.assign(first + np.array([0, epoch * DRAWS_PER_EPOCH], dtype=first.dtype))
