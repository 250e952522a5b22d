"""The study's CNN, built from one variation's params (backend-agnostic Keras 3)."""

from __future__ import annotations

import math

import keras

from stages.config import AugmentParams, ImageParams, VariationParams


def build_augmentation(augment: AugmentParams, seed: int) -> keras.Sequential:
    """The Kaggle kernel's ImageDataGenerator transforms as layers (active in training only)."""
    layers: list[keras.layers.Layer] = []
    if augment.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if augment.rotation:
        layers.append(
            keras.layers.RandomRotation(
                augment.rotation / 360.0, fill_mode="nearest", seed=seed + 1
            )
        )
    if augment.shear:
        # shear_range is an angle in degrees; RandomShear takes the shear factor tan(angle).
        factor = math.tan(math.radians(augment.shear))
        layers.append(
            keras.layers.RandomShear(
                x_factor=factor, y_factor=factor, fill_mode="nearest", seed=seed + 2
            )
        )
    if augment.zoom:
        layers.append(
            keras.layers.RandomZoom(augment.zoom, augment.zoom, fill_mode="nearest", seed=seed + 3)
        )
    if augment.width_shift or augment.height_shift:
        layers.append(
            keras.layers.RandomTranslation(
                augment.height_shift, augment.width_shift, fill_mode="nearest", seed=seed + 4
            )
        )
    return keras.Sequential(layers, name="augmentation")


def build_classifier(
    variation: VariationParams, image: ImageParams, name: str = "cnn"
) -> keras.Model:
    """The model we save and predict with: pixels (0-255) -> rescale -> conv blocks -> dense
    -> P(dog)."""
    inputs = keras.Input(shape=(image.height, image.width, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    for block, filters in enumerate(variation.conv_filters, start=1):
        x = keras.layers.Conv2D(
            filters, variation.kernel_size, activation="relu", name=f"conv{block}"
        )(x)
        x = keras.layers.MaxPooling2D(variation.pool_size, name=f"pool{block}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for layer, units in enumerate(variation.dense_units, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{layer}")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="dog_probability")(x)
    return keras.Model(inputs, outputs, name=name)


def build_trainer(classifier: keras.Model, augment: AugmentParams, seed: int) -> keras.Model:
    """The classifier behind the augmentation layers, for `fit` only.

    Augmentation is inactive outside training anyway; keeping it out of the saved
    classifier keeps `.keras` files free of preprocessing layers at inference.
    """
    if not augment.enabled:
        return classifier
    inputs = keras.Input(shape=classifier.input_shape[1:], name="pixels")
    outputs = classifier(build_augmentation(augment, seed)(inputs))
    return keras.Model(inputs, outputs, name=f"{classifier.name}_trainer")


def build_optimizer(variation: VariationParams) -> keras.optimizers.Optimizer:
    """The variation's optimizer with its explicit learning rate."""
    optimizers = {
        "rmsprop": keras.optimizers.RMSprop,
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
    }
    return optimizers[variation.optimizer](learning_rate=variation.learning_rate)


def compile_model(model: keras.Model, variation: VariationParams) -> keras.Model:
    """Compile as the study did: binary cross-entropy, accuracy."""
    model.compile(
        optimizer=build_optimizer(variation), loss="binary_crossentropy", metrics=["accuracy"]
    )
    return model
