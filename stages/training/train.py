"""Stage `train@<variation>-<seed>`: train one variation from one seed on the decode cache.

The per-epoch curves use the validation split: the test photos under the study's
protocol (`split.validation: test`), or photos held out of the training set.
Writes the model (`.keras`) and a small JSON summary of the training time, both
atomically, and logs each epoch's curves with dvclive (stages/training/history.py).

Training resumes after a crash, even a `kill -9`: the weights, optimizer state and epoch
count (Keras' BackupAndRestore, at most every `train.backup_seconds`: see
stages/training/backup.py) and the history so far are saved under a checkpoint folder
outside DVC's outputs (DVC deletes those before it reruns a stage). The folder is keyed
by the variation and a fingerprint of everything training reads, so a changed variation
never resumes a stale checkpoint; a run removes its variation and seed's checkpoints under
other fingerprints when it starts (stages/training/checkpoints.py), and its own once its
outputs are written and `confirm` (the CLI: params.yaml unchanged) passes.

`train.json` records the params the run read (`trained_with`): what dvc.lock should say.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keras

from stages.core.atomic import atomic_path, sha256_of, write_json
from stages.core.config import Params
from stages.core.dataset import CachePaths, Split, load_split
from stages.training.augment import EpochSeededDraws
from stages.training.backbone import training_phases
from stages.training.backup import BackupCadence, CadencedBackup
from stages.training.checkpoints import collect_stale, held
from stages.training.convergence import (
    ResumableEarlyStopping,
    convergence_callbacks,
    early_stopping_of,
)
from stages.training.distribution import steps_per_execution
from stages.training.feed import fit_data
from stages.training.history import TrainingLog
from stages.training.model import (
    build_classifier,
    build_trainer,
    compile_model,
    dtype_policy,
    precision_warning,
)
from stages.training.resident import fit_resident
from stages.training.seed import seed_everything

NO_EARLY_STOPPING = {"best_epoch": None, "stopped_epoch": None}

# How the epochs run: Keras' `fit`, fed from the host, or the device-resident loop
# (`stages/training/resident.py`), the JAX backend's engine.
Engine = Literal["fit", "resident"]


def default_engine() -> Engine:
    """The resident loop on JAX; `fit` on the other backends."""
    return "resident" if keras.backend.backend() == "jax" else "fit"


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
    live: Path
    summary: Path


def params_read(params: Params, variation_name: str) -> dict:
    """The params a run of `variation_name` trains with: the variation, image, augment and
    the train keys that change its outputs (not seeds, nor backup_seconds)."""
    return {
        "variation": params.variation(variation_name).model_dump(),
        "image": params.image.model_dump(),
        "augment": params.augment.model_dump(),
        # How often a run backs up changes no output: a resume goes on with another.
        "train": params.train.model_dump(exclude={"seeds", "backup_seconds"}),
    }


def checkpoint_folder(
    root: Path,
    params: Params,
    variation_name: str,
    cache: CachePaths,
    train_csv: Path,
    validation_csv: Path,
    seed: int,
    engine: Engine,
) -> Path:
    """`root/<variation>-<seed>-<fingerprint>`: the fingerprint covers the variation's
    params, the blocks training reads, the seed, both splits, the decode cache's
    identity, the backend and the engine."""
    images = cache.images.stat()
    fingerprint = json.dumps(
        {
            **params_read(params, variation_name),
            "seed": seed,
            "splits": [sha256_of(train_csv), sha256_of(validation_csv), sha256_of(cache.index)],
            "images": [images.st_size, images.st_mtime_ns],
            "backend": keras.backend.backend(),
            "engine": engine,
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


def run_epochs(
    engine: Engine,
    trainer: keras.Model,
    splits: tuple[Split, Split],
    batch_size: int,
    seed: int,
    *,
    initial_epoch: int,
    epochs: int,
    callbacks: list[keras.callbacks.Callback],
) -> None:
    """Train epochs `initial_epoch` to `epochs` on (train, validation) `splits` with
    `engine`, as `fit` runs them (a BackupAndRestore among the callbacks may start later)."""
    train_split, validation_split = splits
    if engine == "resident":
        fit_resident(
            trainer,
            train_split,
            validation_split,
            batch_size=batch_size,
            seed=seed,
            initial_epoch=initial_epoch,
            epochs=epochs,
            callbacks=callbacks,
            verbose=keras_verbosity(),
        )
    else:
        trainer.fit(
            **fit_data(train_split, validation_split, batch_size, seed),
            initial_epoch=initial_epoch,
            epochs=epochs,
            callbacks=callbacks,
            verbose=keras_verbosity(),
        )


def train(
    params: Params,
    variation_name: str,
    seed: int,
    inputs: TrainInputs,
    outputs: TrainOutputs,
    *,
    confirm: Callable[[], None] = lambda: None,
) -> dict:
    """Train the variation from `seed` (one of train.seeds), resuming from its checkpoint if
    one exists, with the backend's engine (`default_engine`); return the training summary
    it also writes to `outputs.summary`. `confirm` runs once the outputs are written: if
    it raises, the checkpoint stays, and a rerun with the same fingerprint resumes it."""
    engine = default_engine()
    variation = params.variation(variation_name)
    run = f"train@{variation_name}-{seed}"
    if warning := precision_warning(params.train.precision):
        print(f"{run}: {warning}", file=sys.stderr)
    seed_everything(params.seed(seed))
    splits = (
        load_split(inputs.cache, inputs.train_csv),
        load_split(inputs.cache, inputs.validation_csv),
    )
    executed = steps_per_execution(params.train.steps_per_execution)
    with dtype_policy(params.train.precision):
        model = build_classifier(variation, params.image, name=variation_name)
        trainer = compile_model(build_trainer(model, params.augment, seed), variation, executed)
    folder = checkpoint_folder(
        inputs.checkpoints,
        params,
        variation_name,
        inputs.cache,
        inputs.train_csv,
        inputs.validation_csv,
        seed,
        engine,
    )
    print(
        f"{run}: {model.count_params():,} parameters, {len(splits[0].labels)} train / "
        f"{len(splits[1].labels)} validation photos ({params.split.validation}), "
        f"{variation.epochs} epochs of batch {variation.batch_size}, "
        f"{params.train.precision} on {keras.backend.backend()} ({engine})",
        file=sys.stderr,
    )
    with held(folder, run):
        collect_stale(folder, run)
        fitting = Fitting(model, trainer, executed, splits, folder, engine, run)
        log, stopping = fit_phases(fitting, params, variation_name, seed, outputs.live)
        with atomic_path(outputs.model) as temporary:
            model.save(temporary)
        summary = training_summary(params, variation_name, seed, fitting, log, stopping)
        write_json(outputs.summary, summary)
        confirm()
        shutil.rmtree(folder)
    return summary


@dataclass(frozen=True)
class Fitting:
    """One run being trained: the model saved, the model fitted (behind augmentation) and
    its steps per execution, the (train, validation) splits, its checkpoint folder, the
    engine, and its stage name."""

    model: keras.Model
    trainer: keras.Model
    executed: int
    splits: tuple[Split, Split]
    folder: Path
    engine: Engine
    run: str


def fit_phases(
    fitting: Fitting, params: Params, variation_name: str, seed: int, live: Path
) -> tuple[TrainingLog, ResumableEarlyStopping | None]:
    """Train every phase of the variation, each resumed from its backup, logging the
    epochs to `live`; return the log and the last phase's early stopping, if any."""
    variation = params.variation(variation_name)
    phases = training_phases(variation)
    folder = fitting.folder
    if done := max(epochs_done(folder / phase.backup) for phase in phases):
        print(
            f"{fitting.run}: resuming after epoch {done} of {variation.epochs} from {folder}",
            file=sys.stderr,
        )
    log = TrainingLog(folder / "history.csv", live)
    draws = EpochSeededDraws()
    stopping = None
    for phase in phases:
        if phase.first_epoch:  # a later phase (fine-tuning): its own layers and learning rate
            phase.prepare(fitting.model, fitting.trainer)
            compile_model(fitting.trainer, variation, fitting.executed, phase.learning_rate)
        start = max(epochs_done(folder / phase.backup), phase.first_epoch)
        # The last epoch of a phase that another follows is always backed up.
        phase_end = phase.last_epoch if phase is not phases[-1] else None
        cadence = BackupCadence(params.train.backup_seconds, phase_end)
        convergence = (
            convergence_callbacks(variation, folder, start, cadence) if phase.converges else []
        )
        stopping = early_stopping_of(convergence)
        run_epochs(
            fitting.engine,
            fitting.trainer,
            fitting.splits,
            variation.batch_size,
            seed,
            initial_epoch=phase.first_epoch,
            # An earlier run that stopped early, killed before its outputs: no more epochs.
            epochs=(stopping and stopping.stopped_after()) or phase.last_epoch,
            callbacks=[draws, log, *convergence, CadencedBackup(folder / phase.backup, cadence)],
        )
    return log, stopping


def training_summary(
    params: Params,
    variation_name: str,
    seed: int,
    fitting: Fitting,
    log: TrainingLog,
    stopping: ResumableEarlyStopping | None,
) -> dict:
    """train.json: the training time and speed, the run's settings, and the params it
    trained with (`trained_with`, as params_read gives them)."""
    variation = params.variation(variation_name)
    train_images = len(fitting.splits[0].labels)
    epochs_run = len(log.rows)
    return {
        "train_seconds": round(log.seconds, 3),
        "train_images_per_second": round(train_images * epochs_run / log.seconds, 1),
        # Training alone, validation left out, first (compiling) epoch left out.
        "steady_train_images_per_second": round(train_images / log.steady_fit_seconds, 1),
        "train_images": train_images,
        "precision": params.train.precision,
        "steps_per_execution": params.train.steps_per_execution,
        "epochs": variation.epochs,
        # Early stopping's best epoch (from 1) and the last epoch trained; null without it.
        **(stopping.summary(epochs_run) if stopping else NO_EARLY_STOPPING),
        "params": fitting.model.count_params(),
        "backend": keras.backend.backend(),
        "engine": fitting.engine,
        "seed": seed,
        "trained_with": params_read(params, variation_name),
    }
