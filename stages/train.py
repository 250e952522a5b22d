"""Stage `train@<variation>`: train one variation on the decode cache.

As in the study, the test split is the validation data behind the per-epoch curves.
Writes the model (`.keras`), its per-epoch history (CSV) and a small JSON summary of
the training time, all atomically.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import pandas as pd

from stages.atomic import atomic_path, write_csv, write_json
from stages.config import Params
from stages.dataset import CachePaths, load_split
from stages.model import build_classifier, build_trainer, compile_model
from stages.seed import seed_everything

HISTORY_COLUMNS = ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]


@dataclass(frozen=True)
class TrainOutputs:
    """Where the stage writes (dvc.yaml declares these paths)."""

    model: Path
    history: Path
    summary: Path


class HistoryCSV(keras.callbacks.Callback):
    """Rewrites the history CSV (atomically) after every epoch, epochs counted from 1."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.rows: list[dict[str, float]] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        self.rows.append(
            {"epoch": epoch + 1, **{key: float(logs[key]) for key in HISTORY_COLUMNS[1:]}}
        )
        write_csv(self.path, pd.DataFrame(self.rows, columns=HISTORY_COLUMNS))


def keras_verbosity() -> int:
    """A progress bar on a terminal; one line per epoch in logs (no carriage returns)."""
    return 1 if sys.stdout.isatty() else 2


def train(
    params: Params,
    variation_name: str,
    cache: CachePaths,
    train_csv: Path,
    test_csv: Path,
    outputs: TrainOutputs,
) -> dict[str, float]:
    """Train the variation; return the training summary it also writes to `outputs.summary`."""
    variation = params.variation(variation_name)
    seed_everything(params.train.seed)
    train_split = load_split(cache, train_csv)
    test_split = load_split(cache, test_csv)
    model = build_classifier(variation, params.image, name=variation_name)
    trainer = compile_model(build_trainer(model, params.augment, params.train.seed), variation)
    print(
        f"train@{variation_name}: {model.count_params():,} parameters, "
        f"{len(train_split.labels)} train / {len(test_split.labels)} test photos, "
        f"{variation.epochs} epochs of batch {variation.batch_size}",
        file=sys.stderr,
    )
    started = time.perf_counter()
    trainer.fit(
        train_split.images,
        train_split.labels,
        batch_size=variation.batch_size,
        epochs=variation.epochs,
        validation_data=(test_split.images, test_split.labels),
        shuffle=True,
        callbacks=[HistoryCSV(outputs.history)],
        verbose=keras_verbosity(),
    )
    seconds = time.perf_counter() - started
    with atomic_path(outputs.model) as temporary:
        model.save(temporary)
    summary = {
        "train_seconds": round(seconds, 3),
        "train_images_per_second": round(len(train_split.labels) * variation.epochs / seconds, 1),
        "train_images": len(train_split.labels),
        "epochs": variation.epochs,
        "params": model.count_params(),
        "backend": keras.backend.backend(),
    }
    write_json(outputs.summary, summary)
    return summary
