"""`catdog predict`: label new photos with a trained model, in the spirit of the study's Fig. 14."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.dataset import CLASS_NAMES
from stages.decode import UndecodablePhoto, decode_photo
from stages.errors import CatdogError

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp"}


@dataclass(frozen=True)
class Prediction:
    """A photo's label and the model's confidence in it (0.5 to 1)."""

    file: str
    label: str
    confidence: float

    def sentence(self) -> str:
        return f"{self.file}: probably a {self.label.upper()} ({self.confidence:.2%} confidence)"


@dataclass(frozen=True)
class Failure:
    """A path that could not be predicted, and why."""

    file: str
    reason: str


def label_of(dog_probability: float) -> tuple[str, float]:
    """The likelier class and its probability."""
    if dog_probability >= 0.5:
        return CLASS_NAMES[1], dog_probability
    return CLASS_NAMES[0], 1.0 - dog_probability


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given; folders replaced by the photos directly inside them, sorted."""
    expanded: list[Path] = []
    for path in paths:
        if path.is_dir():
            expanded.extend(
                sorted(
                    p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES
                )
            )
        else:
            expanded.append(path)
    return expanded


def load_photos(
    paths: list[Path], height: int, width: int
) -> tuple[list[Path], np.ndarray, list[Failure]]:
    """Decode each path to the model's input size; collect failures instead of stopping."""
    good, pixels, failures = [], [], []
    for path in paths:
        try:
            pixels.append(decode_photo(path.read_bytes(), height, width))
            good.append(path)
        except FileNotFoundError:
            failures.append(Failure(str(path), "no such file"))
        except IsADirectoryError:
            failures.append(Failure(str(path), "is a directory"))
        except UndecodablePhoto as problem:
            failures.append(Failure(str(path), str(problem)))
    stacked = np.stack(pixels) if pixels else np.zeros((0, height, width, 3), np.uint8)
    return good, stacked, failures


def load_model(model_path: Path):  # -> keras.Model; keras is imported lazily here
    """Load a `.keras` model, or explain in one line why not."""
    import keras

    if not model_path.is_file():
        raise CatdogError(f"--model {model_path}: no such file (train it with `dvc repro`)")
    try:
        return keras.models.load_model(model_path)
    except Exception as error:  # Keras raises many types for a damaged file
        raise CatdogError(f"--model {model_path}: not a loadable Keras model ({error})") from None


def predict(model_path: Path, paths: list[Path]) -> tuple[list[Prediction], list[Failure]]:
    """Predictions for every photo that decodes, failures for the rest."""
    model = load_model(model_path)
    _, height, width, _ = model.input_shape
    good, pixels, failures = load_photos(expand_paths(paths), height, width)
    predictions = []
    if len(good):
        probabilities = model.predict(pixels, batch_size=64, verbose=0).reshape(-1)
        for path, probability in zip(good, probabilities, strict=True):
            label, confidence = label_of(float(probability))
            predictions.append(Prediction(str(path), label, confidence))
    return predictions, failures
