"""The study's CNN, built from one variation's params (backend-agnostic Keras 3)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras

from stages.core.config import AugmentParams, ImageParams, VariationParams
from stages.training.augment import build_augmentation
from stages.training.backbone import build_backbone_classifier
from stages.training.optimizers import FusedAdam, FusedRMSprop


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build models under Keras' dtype policy `name` (`train.precision`); the global
    policy is restored afterwards."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def precision_warning(precision: str) -> str | None:
    """A warning when `precision` is mixed_float16 and no GPU is visible: CPUs have no fast
    float16 arithmetic, and each op is cast to and from it (None otherwise)."""
    if precision != "mixed_float16":
        return None
    devices = keras.distribution.list_devices()  # the GPUs (or TPUs) if any, else the CPUs
    if not all(device.lower().startswith("cpu") for device in devices):
        return None
    # v4's train_on_batch, 64 photos at 120x120, 2 cores of a Xeon with AMX: 77.8 s at
    # mixed_float16, 0.19-0.31 s at float32, 0.13 s at mixed_bfloat16.
    return (
        "warning: train.precision mixed_float16 with no GPU visible trains hundreds of times "
        "slower than float32 on a CPU (v4: 78 s a batch, not 0.2-0.3 s); set "
        "train.precision to float32 (or mixed_bfloat16 on a CPU with bfloat16 units)"
    )


def build_classifier(
    variation: VariationParams, image: ImageParams, name: str = "cnn", rescale: bool = True
) -> keras.Model:
    """The model we save and predict with: pixels (0-255) -> rescale -> conv blocks -> dense
    -> P(dog). `rescale=False` takes pixels already in [0, 1] (as the study's
    ImageDataGenerator produced them; only the study-style benchmark wants that).
    A variation with a backbone gets it instead of the conv blocks (backbone.py)."""
    if variation.backbone is not None:
        return build_backbone_classifier(variation, image, name)
    assert variation.kernel_size and variation.pool_size  # config's _check_layers
    inputs = keras.Input(shape=(image.height, image.width, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs) if rescale else inputs
    for block, filters in enumerate(variation.conv_filters, start=1):
        x = keras.layers.Conv2D(
            filters, variation.kernel_size, activation="relu", name=f"conv{block}"
        )(x)
        x = keras.layers.MaxPooling2D(variation.pool_size, name=f"pool{block}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for layer, units in enumerate(variation.dense_units, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{layer}")(x)
    # float32 output under mixed precision too: a stable sigmoid and loss.
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="dog_probability")(
        x
    )
    return keras.Model(inputs, outputs, name=name)


def build_trainer(classifier: keras.Model, augment: AugmentParams, seed: int) -> keras.Model:
    """The model `fit` trains and compiles: the classifier, behind the augmentation layer
    when augmentation is enabled.

    The classifier itself is never compiled, so the `.keras` file we save holds neither
    preprocessing layers nor optimizer state: just what inference needs.
    """
    inputs = keras.Input(shape=classifier.input_shape[1:], name="pixels")
    pixels = build_augmentation(augment, seed)(inputs) if augment.enabled else inputs
    return keras.Model(inputs, classifier(pixels), name=f"{classifier.name}_trainer")


def build_optimizer(
    variation: VariationParams, learning_rate: float | None = None
) -> keras.optimizers.Optimizer:
    """The variation's optimizer with its explicit learning rate, or `learning_rate` (a
    fine-tuning phase's); updates fused on TensorFlow: `stages/training/optimizers.py`."""
    optimizers = {
        "rmsprop": FusedRMSprop,
        "adam": FusedAdam,
        "sgd": keras.optimizers.SGD,
    }
    return optimizers[variation.optimizer](learning_rate=learning_rate or variation.learning_rate)


def compile_model(
    model: keras.Model,
    variation: VariationParams,
    steps_per_execution: int = 1,
    learning_rate: float | None = None,
) -> keras.Model:
    """Compile as the study did (binary cross-entropy, accuracy), running
    `steps_per_execution` batches per compiled call (at `learning_rate` if given)."""
    model.compile(
        optimizer=build_optimizer(variation, learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model
