"""Stage `train@<variation>-<seed>`: train one variation from one seed on the decode cache.

The per-epoch curves use the validation split: the test photos under the study's
protocol (`split.validation: test`), or photos held out of the training set.
Writes the model (`.keras`), its per-epoch history (CSV) and a small JSON summary of
the training time, all atomically.

Training resumes after a crash, even a `kill -9`: after every epoch the weights,
optimizer state and epoch count (Keras' BackupAndRestore) and the history so far are
saved under a checkpoint folder outside DVC's outputs (DVC deletes those before it
reruns a stage). The folder is keyed by the variation and a fingerprint of everything
training reads, so a changed variation never resumes a stale checkpoint, and it is
removed once the stage's outputs are written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import pandas as pd

from stages.core.atomic import atomic_path, sha256_of, write_csv, write_json
from stages.core.config import Params
from stages.core.dataset import CachePaths, load_split
from stages.training.backbone import training_phases
from stages.training.convergence import convergence_callbacks, early_stopping_of
from stages.training.distribution import steps_per_execution
from stages.training.feed import fit_data
from stages.training.model import build_classifier, build_trainer, compile_model, dtype_policy
from stages.training.seed import seed_everything

HISTORY_COLUMNS = ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
NO_EARLY_STOPPING = {"best_epoch": None, "stopped_epoch": None}


@dataclass(frozen=True)
class TrainInputs:
    """What the stage reads: the decode cache and both splits; and `checkpoints`, the
    folder for resume state, which lives outside DVC's outputs."""

    cache: CachePaths
    train_csv: Path
    validation_csv: Path
    checkpoints: Path


@dataclass(frozen=True)
class TrainOutputs:
    """Where the stage writes (dvc.yaml declares these paths)."""

    model: Path
    history: Path
    summary: Path


class TrainingLog(keras.callbacks.Callback):
    """Per-epoch metrics and seconds, kept in the checkpoint folder and copied to the
    history CSV (epochs counted from 1) after every epoch, both atomically.

    Each row times the whole epoch (`seconds`, validation included) and its training
    part alone (`fit_seconds`, up to the start of validation).

    Put it before BackupAndRestore in the callbacks: an epoch's row is then saved before
    its backup, and rows past the epoch a resumed run restarts from are dropped, so the
    history holds every epoch exactly once.
    """

    def __init__(self, state: Path, history: Path) -> None:
        super().__init__()
        self.state, self.history = state, history
        self.rows: list[dict[str, float]] = (
            pd.read_csv(state).to_dict("records") if state.exists() else []
        )
        self._started = self._fitted = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.rows = [row for row in self.rows if row["epoch"] <= epoch]
        self._started = self._fitted = time.perf_counter()

    def on_test_begin(self, logs: dict[str, float] | None = None) -> None:
        self._fitted = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        metrics = {key: float(logs[key]) for key in HISTORY_COLUMNS[1:]}
        ended = time.perf_counter()
        fit_seconds = (self._fitted if self._fitted > self._started else ended) - self._started
        timing = {"seconds": ended - self._started, "fit_seconds": fit_seconds}
        self.rows.append({"epoch": epoch + 1, **metrics, **timing})
        write_csv(self.state, pd.DataFrame(self.rows, columns=[*HISTORY_COLUMNS, *timing]))
        self.write_history()

    def write_history(self) -> None:
        write_csv(self.history, pd.DataFrame(self.rows, columns=HISTORY_COLUMNS))

    @property
    def seconds(self) -> float:
        return sum(row["seconds"] for row in self.rows)

    @property
    def steady_fit_seconds(self) -> float:
        """Median training seconds of an epoch, leaving out the first (it compiles) when
        there are others."""
        fit_seconds = [row["fit_seconds"] for row in self.rows]
        return statistics.median(fit_seconds[1:] or fit_seconds)


def checkpoint_folder(
    root: Path,
    params: Params,
    variation_name: str,
    cache: CachePaths,
    train_csv: Path,
    validation_csv: Path,
    seed: int,
) -> Path:
    """`root/<variation>-<seed>-<fingerprint>`: the fingerprint covers the variation's
    params, the blocks training reads, the seed, both splits and the decode cache's
    identity."""
    images = cache.images.stat()
    fingerprint = json.dumps(
        {
            "variation": params.variation(variation_name).model_dump(),
            "image": params.image.model_dump(),
            "augment": params.augment.model_dump(),
            "train": params.train.model_dump(exclude={"seeds"}),
            "seed": seed,
            "splits": [sha256_of(train_csv), sha256_of(validation_csv), sha256_of(cache.index)],
            "images": [images.st_size, images.st_mtime_ns],
            "backend": keras.backend.backend(),
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:12]
    return root / f"{variation_name}-{seed}-{digest}"


def epochs_done(backup: Path) -> int:
    """How many epochs a BackupAndRestore folder has saved (0 if none)."""
    metadata = backup / "training_metadata.json"
    return json.loads(metadata.read_text())["epoch"] if metadata.exists() else 0


def keras_verbosity() -> int:
    """A progress bar on a terminal; one line per epoch in logs (no carriage returns)."""
    return 1 if sys.stdout.isatty() else 2


def train(
    params: Params, variation_name: str, seed: int, inputs: TrainInputs, outputs: TrainOutputs
) -> dict[str, float]:
    """Train the variation from `seed` (one of train.seeds), resuming from its checkpoint if
    one exists; return the training summary it also writes to `outputs.summary`."""
    variation = params.variation(variation_name)
    seed_everything(params.seed(seed))
    train_split = load_split(inputs.cache, inputs.train_csv)
    validation_split = load_split(inputs.cache, inputs.validation_csv)
    executed = steps_per_execution(params.train.steps_per_execution)
    with dtype_policy(params.train.precision):
        model = build_classifier(variation, params.image, name=variation_name)
        trainer = compile_model(build_trainer(model, params.augment, seed), variation, executed)
    phases = training_phases(variation)
    folder = checkpoint_folder(
        inputs.checkpoints,
        params,
        variation_name,
        inputs.cache,
        inputs.train_csv,
        inputs.validation_csv,
        seed,
    )
    run = f"train@{variation_name}-{seed}"
    print(
        f"{run}: {model.count_params():,} parameters, {len(train_split.labels)} train / "
        f"{len(validation_split.labels)} validation photos ({params.split.validation}), "
        f"{variation.epochs} epochs of batch {variation.batch_size}, "
        f"{params.train.precision} on {keras.backend.backend()}",
        file=sys.stderr,
    )
    if done := max(epochs_done(folder / phase.backup) for phase in phases):
        print(
            f"{run}: resuming after epoch {done} of {variation.epochs} from {folder}",
            file=sys.stderr,
        )
    log = TrainingLog(folder / "history.csv", outputs.history)
    data = fit_data(train_split, validation_split, variation.batch_size, seed)
    for phase in phases:
        if phase.first_epoch:  # a later phase (fine-tuning): its own layers and learning rate
            phase.prepare(model, trainer)
            compile_model(trainer, variation, executed, phase.learning_rate)
        start = max(epochs_done(folder / phase.backup), phase.first_epoch)
        convergence = convergence_callbacks(variation, folder, start)
        stopping = early_stopping_of(convergence)
        backup = keras.callbacks.BackupAndRestore(
            str(folder / phase.backup), double_checkpoint=True, delete_checkpoint=False
        )
        trainer.fit(
            **data,
            initial_epoch=phase.first_epoch,
            # An earlier run that stopped early, killed before its outputs: no more epochs.
            epochs=(stopping and stopping.stopped_after()) or phase.last_epoch,
            callbacks=[log, *convergence, backup],
            verbose=keras_verbosity(),
        )
    log.write_history()
    epochs_run = len(log.rows)
    with atomic_path(outputs.model) as temporary:
        model.save(temporary)
    summary = {
        "train_seconds": round(log.seconds, 3),
        "train_images_per_second": round(len(train_split.labels) * epochs_run / log.seconds, 1),
        # Training alone, validation left out, first (compiling) epoch left out.
        "steady_train_images_per_second": round(
            len(train_split.labels) / log.steady_fit_seconds, 1
        ),
        "train_images": len(train_split.labels),
        "precision": params.train.precision,
        "steps_per_execution": params.train.steps_per_execution,
        "epochs": variation.epochs,
        # Early stopping's best epoch (from 1) and the last epoch trained; null without it.
        **(stopping.summary(epochs_run) if stopping else NO_EARLY_STOPPING),
        "params": model.count_params(),
        "backend": keras.backend.backend(),
        "seed": seed,
    }
    write_json(outputs.summary, summary)
    shutil.rmtree(folder)
    return summary
