"""`catdog predict`: label new photos with a trained model, in the spirit of the study's Fig. 14.

Photos are read as the decode stage reads them (regular files only, under the same size
cap, through the same decoder), so a photo gets the same pixels here as in training.
"""

from __future__ import annotations

import glob
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from stages.core.dataset import label_of
from stages.core.errors import CatdogError
from stages.ingest.archive import PHOTO_SUFFIXES
from stages.ingest.decode import UndecodablePhoto, decode_photo, read_file
from stages.reporting.figures import Labelled

NO_PHOTOS = f"a folder with no photos directly in it (looked for {' '.join(PHOTO_SUFFIXES)})"


@dataclass(frozen=True)
class Prediction:
    """A photo's label and the model's confidence in it (0.5 to 1)."""

    file: str
    label: str
    confidence: float

    def sentence(self) -> str:
        """As the study's Fig. 14 words it: 'probably a CAT (96.86% confidence)'."""
        return f"{self.file}: probably a {self.label.upper()} ({self.confidence:.2%} confidence)"

    def as_json(self) -> dict[str, object]:
        """{file, label, confidence}, the confidence rounded to 6 digits."""
        return {**asdict(self), "confidence": round(self.confidence, 6)}


@dataclass(frozen=True)
class Failure:
    """A path that could not be predicted, and why."""

    file: str
    reason: str


def _photos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given; folders replaced by the photos directly inside them, sorted; globs
    (`photos/*.jpg`, `**` too) expanded, sorted. A glob that yields no photo stays as
    given, and is then reported as missing; a folder without photos stays as given, and
    is then reported as such: each argument yields a photo or an error."""
    expanded: list[Path] = []
    for path in paths:
        if not path.exists() and glob.has_magic(str(path)):
            matches = [Path(m) for m in sorted(glob.glob(str(path), recursive=True))]
            found = [p for m in matches for p in (_photos_in(m) if m.is_dir() else [m])]
            expanded.extend(found or [path])
        elif path.is_dir():
            expanded.extend(_photos_in(path) or [path])
        else:
            expanded.append(path)
    return expanded


def load_photos(
    paths: list[Path], height: int, width: int
) -> tuple[list[Path], np.ndarray, list[Failure]]:
    """Decode each path to the model's input size, as decode does; collect failures instead
    of stopping."""
    good, pixels, failures = [], [], []
    for path in paths:
        try:
            pixels.append(decode_photo(read_file(path), height, width))
            good.append(path)
        except FileNotFoundError:
            pattern = " (the pattern yields no photo)" if glob.has_magic(str(path)) else ""
            failures.append(Failure(str(path), f"no such file{pattern}"))
        except UndecodablePhoto as problem:
            # A folder gets here only when expand_paths found no photo in it.
            reason = NO_PHOTOS if path.is_dir() else str(problem)
            failures.append(Failure(str(path), reason))
        except OSError as error:  # a symlink loop, no permission, an I/O error...
            failures.append(Failure(str(path), error.strerror or str(error)))
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


@dataclass(frozen=True)
class Predicted:
    """What `predict` found: a prediction and its decoded pixels per photo, and failures."""

    predictions: list[Prediction]
    pixels: np.ndarray  # (N, H, W, 3) uint8, in the predictions' order
    failures: list[Failure]

    def by_confidence(self) -> Predicted:
        """The same, most confident first (ties keep their order)."""
        order = sorted(range(len(self.predictions)), key=lambda i: -self.predictions[i].confidence)
        return Predicted(
            [self.predictions[i] for i in order], self.pixels[order], list(self.failures)
        )


def predict(model_path: Path, paths: list[Path]) -> Predicted:
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
    return Predicted(predictions, pixels, failures)


def gallery_items(found: Predicted) -> list[Labelled]:
    """The predictions as gallery entries (file name, verdict, pixels)."""
    return [
        Labelled(pixels, Path(p.file).name, p.label, p.confidence)
        for p, pixels in zip(found.predictions, found.pixels, strict=True)
    ]
