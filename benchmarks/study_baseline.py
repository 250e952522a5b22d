"""The study's training input pipeline, as the baseline every training speed claim is
measured against.

As the Kaggle kernel did: the photos lie unpacked as JPEG files, and the legacy
`ImageDataGenerator.flow_from_dataframe` reads, decodes, resizes and augments them again
every epoch (rotation 15 degrees, shear 0.1 degrees, zoom 0.2, shifts 0.1, horizontal flip,
rescale 1/255), one batch at a time, on the Python thread. The network, optimizer,
batch size and split are ours, the same as `dvc repro train@<variation>` trains.

    python -m benchmarks.study_baseline --photos DIR --train-csv data/split/train.csv \\
        --test-csv data/split/test.csv --variation v4 --epochs 3

Prints one line per epoch with the training img/s (validation left out), then a JSON
summary on stdout.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Annotated

import keras
import pandas as pd
import typer
from keras.src.legacy.preprocessing.image import ImageDataGenerator

from stages.core.config import load_params
from stages.training.model import build_classifier, compile_model
from stages.training.seed import seed_everything


class EpochTimer(keras.callbacks.Callback):
    """Seconds of each epoch's training part (up to the start of validation)."""

    def __init__(self, images: int) -> None:
        super().__init__()
        self.images, self.fit_seconds = images, []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_test_begin(self, logs: dict | None = None) -> None:
        self.fit_seconds.append(time.perf_counter() - self._started)
        print(
            f"epoch {len(self.fit_seconds)}: {self.images / self.fit_seconds[-1]:.0f} img/s",
            file=sys.stderr,
            flush=True,
        )


def study_generators(
    photos: Path, train_csv: Path, test_csv: Path, size: tuple[int, int], batch_size: int
):
    """The kernel's two generators: augmented training photos, rescaled test photos."""
    augmenting = ImageDataGenerator(
        rotation_range=15,
        rescale=1.0 / 255,
        shear_range=0.1,
        zoom_range=0.2,
        horizontal_flip=True,
        width_shift_range=0.1,
        height_shift_range=0.1,
    )
    rescaling = ImageDataGenerator(rescale=1.0 / 255)
    flow = {
        "directory": str(photos),
        "x_col": "filename",
        "y_col": "category",
        "target_size": size,
        "class_mode": "binary",
        "batch_size": batch_size,
    }
    train = augmenting.flow_from_dataframe(pd.read_csv(train_csv, dtype=str), **flow)
    test = rescaling.flow_from_dataframe(pd.read_csv(test_csv, dtype=str), **flow)
    return train, test


def main(
    photos: Annotated[Path, typer.Option(help="Folder the split's filenames are relative to.")],
    train_csv: Annotated[Path, typer.Option()] = Path("data/split/train.csv"),
    test_csv: Annotated[Path, typer.Option()] = Path("data/split/test.csv"),
    variation: Annotated[str, typer.Option(help="Variation in params.yaml.")] = "v4",
    epochs: Annotated[int, typer.Option(min=1)] = 3,
    params_file: Annotated[Path, typer.Option("--params")] = Path("params.yaml"),
) -> None:
    """Train one variation the study's way and print its timings."""
    started = time.perf_counter()
    params = load_params(params_file)
    chosen = params.variation(variation)
    seed_everything(params.train.seeds[0])
    size = (params.image.height, params.image.width)
    train, test = study_generators(photos, train_csv, test_csv, size, chosen.batch_size)
    model = compile_model(build_classifier(chosen, params.image, rescale=False), chosen)
    timer = EpochTimer(train.samples)
    model.fit(train, epochs=epochs, validation_data=test, callbacks=[timer], verbose=0)
    steady = statistics.median(timer.fit_seconds[1:] or timer.fit_seconds)
    summary = {
        "variation": variation,
        "epochs": epochs,
        "train_images": train.samples,
        "steady_train_images_per_second": round(train.samples / steady, 1),
        "process_seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    typer.run(main)
