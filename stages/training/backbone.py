"""v7: a pretrained `keras.applications` backbone under a small head, trained in two phases.

MobileNetV3Small: built for phones, it is the cheapest ImageNet backbone Keras ships
(under 1 M parameters without its top; 56 M multiply-adds a photo at 224x224 in its
paper, about 16 M at the study's 120x120, against EfficientNetB0's 390 M), so two CPU
cores train it in about 10 s per epoch of the demo's 1,432 photos; its convolutions
take any size from 32x32, so the study's 120x120 photos stay as they are. Its
preprocessing (pixels 0-255 to [-1, 1]) is a layer inside the model
(`include_preprocessing=True`): the classifier takes the same 0-255 pixels as the
study's CNN, and `catdog predict` feeds it as it feeds them.

Phase 1 trains the head on the frozen backbone at the variation's learning rate; phase 2
unfreezes the backbone's top `fine_tune_layers` layers (BatchNormalization layers stay
frozen, and the backbone always runs them in inference mode) at the lower
`fine_tune_learning_rate`.

Early stopping and the plateau schedule watch the last phase only: the fine-tuning (or the
frozen phase, when it takes every epoch). The frozen phase always runs to its end, so
stopping there can never skip the fine-tuning, and the fine-tuning starts at its own
learning rate with fresh patience, not the frozen phase's schedule.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras

from stages.core.config import BackboneParams, ImageParams, VariationParams
from stages.core.errors import ConfigError
from stages.core.weights import check_weights_file

BACKBONES: dict[str, Callable[..., keras.Model]] = {
    "MobileNetV3Small": keras.applications.MobileNetV3Small,
}
BACKBONE_LAYER = "backbone"
# Set (to anything) to refuse downloading ImageNet weights; the test suite sets it.
OFFLINE = "CATDOG_OFFLINE"


def build_backbone(params: BackboneParams, image: ImageParams) -> keras.Model:
    """The backbone without its top, average-pooled, with its own preprocessing; weights
    from ImageNet (downloaded once by Keras, which checks the file's hash), from a local
    .h5 file (refused in one line unless it fits), or random (`weights` empty)."""
    weights = params.weights
    if weights == "imagenet" and os.environ.get(OFFLINE):
        raise ConfigError(
            f"backbone.weights: imagenet is a download, and {OFFLINE} is set: "
            "use empty (random) or a local .h5 file"
        )
    local = None if weights in (None, "imagenet") else check_weights_file(weights)
    with warnings.catch_warnings():
        # "Weights for input shape (224, 224) will be loaded": the convolutions' weights
        # do not depend on the input size.
        warnings.filterwarnings("ignore", message=".*input_shape. is undefined or non-square")
        backbone = BACKBONES[params.name](
            input_shape=(image.height, image.width, 3),
            include_top=False,
            weights=None if local else weights,
            pooling="avg",
            include_preprocessing=True,
            name=BACKBONE_LAYER,
        )
    if local:
        load_weights(backbone, local, params.name)
    return backbone


def load_weights(backbone: keras.Model, path: Path, name: str) -> None:
    """Load a local weights file into `backbone` (as keras.applications would); a file
    that does not fit is one line, never Keras' message listing every layer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns once for each layer it cannot fill
        try:
            backbone.load_weights(path)
        except Exception:  # Keras and h5py raise many kinds for a wrong file
            raise ConfigError(
                f"backbone.weights: {path}: does not fit {name}: {_misfit(backbone, path)}"
            ) from None


def _misfit(backbone: keras.Model, path: Path) -> str:
    """Why a weights file did not load: its count of layers with weights against the
    backbone's, or, where the counts agree, that the layers differ."""
    expected = sum(1 for layer in backbone.layers if layer.weights)
    try:
        found = saved_layer_count(path)
    except (OSError, KeyError):
        return "not a Keras weights file"
    if found != expected:
        return f"expected {expected} layers' weights, found {found}"
    return f"its {found} layers' weights have other shapes or names"


def saved_layer_count(path: Path) -> int:
    """How many layers' weights an HDF5 weights file holds: Keras 3's `.weights.h5`
    (one non-empty `vars` group per object with weights) or the legacy `.h5` layout
    (`layer_names`, each with its `weight_names`), a whole saved model's included."""
    import h5py  # type: ignore[import-untyped]

    with h5py.File(path, "r") as file:
        root = file.get("model_weights", file)
        if "layer_names" in root.attrs:
            names = root.attrs["layer_names"]
            return sum(1 for name in names if len(root[name].attrs["weight_names"]))
        filled: list[str] = []

        def visit(name: str, item: object) -> None:
            if name.rsplit("/", 1)[-1] == "vars" and isinstance(item, h5py.Group) and len(item):
                filled.append(name)

        root.visititems(visit)
        return len(filled)


def build_backbone_classifier(
    variation: VariationParams, image: ImageParams, name: str
) -> keras.Model:
    """Pixels (0-255) -> the backbone (its preprocessing included, in inference mode) ->
    the variation's dense layers -> P(dog). The backbone starts frozen (phase 1)."""
    assert variation.backbone is not None
    backbone = build_backbone(variation.backbone, image)
    backbone.trainable = False
    inputs = keras.Input(shape=(image.height, image.width, 3), name="pixels")
    x = backbone(inputs, training=False)
    for layer, units in enumerate(variation.dense_units, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{layer}")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="dog_probability")(
        x
    )
    return keras.Model(inputs, outputs, name=name)


def unfreeze_top(classifier: keras.Model, layers: int) -> None:
    """Make the backbone's top `layers` layers trainable, BatchNormalization left frozen."""
    backbone = classifier.get_layer(BACKBONE_LAYER)
    backbone.trainable = True
    for position, layer in enumerate(backbone.layers):
        top = position >= len(backbone.layers) - layers
        layer.trainable = top and not isinstance(layer, keras.layers.BatchNormalization)


@dataclass(frozen=True)
class Phase:
    """Epochs [first_epoch, last_epoch) at `learning_rate`; `backup` names the phase's
    BackupAndRestore folder; `fine_tune_layers`, when set, is unfrozen before it;
    `converges`: early stopping and the plateau schedule run in it (the last phase)."""

    backup: str
    first_epoch: int
    last_epoch: int
    learning_rate: float
    fine_tune_layers: int | None = None
    converges: bool = True

    def prepare(self, classifier: keras.Model, trainer: keras.Model) -> None:
        """Before compiling: set which layers this phase trains, and forget the epoch the
        phase before resumed from (BackupAndRestore leaves it on the trainer, and `fit`
        would start from it instead of `first_epoch`)."""
        if self.fine_tune_layers is not None:
            unfreeze_top(classifier, self.fine_tune_layers)
        trainer._initial_epoch = None


def training_phases(variation: VariationParams) -> list[Phase]:
    """One phase for the study's CNNs; a frozen then a fine-tuning phase under a backbone
    (the second left out when the frozen phase takes every epoch). Only the last phase
    converges (early stopping, plateau)."""
    backbone = variation.backbone
    if backbone is None:
        return [Phase("backup", 0, variation.epochs, variation.learning_rate)]
    fine_tunes = backbone.frozen_epochs < variation.epochs
    phases = [
        Phase(
            "backup",
            0,
            backbone.frozen_epochs,
            variation.learning_rate,
            converges=not fine_tunes,
        )
    ]
    if fine_tunes:
        phases.append(
            Phase(
                "backup-fine-tune",
                backbone.frozen_epochs,
                variation.epochs,
                backbone.fine_tune_learning_rate,
                backbone.fine_tune_layers,
            )
        )
    return phases
