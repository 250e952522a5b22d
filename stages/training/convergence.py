"""Training to convergence: early stopping with best-weights restore and a plateau
learning-rate schedule, both watching the validation split, both surviving a `kill -9`.

They are Keras' own EarlyStopping and ReduceLROnPlateau, relying only on the
on_train_begin / on_epoch_end / on_train_end hooks, `self.model`'s weights and its
optimizer's learning rate. On every epoch that ends with a backup (the cadence of
stages/training/backup.py) each writes its state (patience counter, best value, best
epoch; the best weights as an .npz) to the checkpoint folder, keyed by the number of
epochs done. A resumed run is told how many epochs its backup holds (`start_epoch`) and
takes the state saved after exactly that many, so the counters agree with the weights
BackupAndRestore restores, even when the kill came between the two saves.

Under a backbone (v7) they run in the last phase only, the fine-tuning (backbone.py's
`Phase.converges`): stopping in the frozen phase would skip the fine-tuning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

from stages.core.atomic import atomic_path, write_json
from stages.core.config import EarlyStoppingParams, PlateauParams, VariationParams
from stages.training.backup import BackupCadence, every_epoch

# Snapshots kept: the backup a run resumes from is the last one or the one before.
KEPT = 2


class EpochState:
    """A callback's state after each epoch, in one JSON file; the last KEPT epochs kept."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, dict[str, Any]]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def after(self, epochs_done: int) -> dict[str, Any] | None:
        """The state saved once `epochs_done` epochs were done, if any."""
        return self.read().get(str(epochs_done))

    def save(self, epochs_done: int, state: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Record the state after `epochs_done` epochs; return the snapshots kept."""
        snapshots = {**self.read(), str(epochs_done): state}
        kept = dict(sorted(snapshots.items(), key=lambda item: int(item[0]))[-KEPT:])
        write_json(self.path, kept)
        return kept


class _Resumable:
    """What both callbacks share: a state file in `folder`, saved on the epochs `cadence`
    backs up and read back after `start_epoch` epochs; the wait counter and best value
    in every snapshot."""

    wait: int
    best: float | None

    def _keep_state(
        self, folder: Path, name: str, start_epoch: int, cadence: BackupCadence | None
    ) -> None:
        self.folder, self.start_epoch = folder, start_epoch
        self.state = EpochState(folder / f"{name}.json")
        self.cadence = cadence or every_epoch()

    def _restore(self) -> dict[str, Any] | None:
        saved = self.state.after(self.start_epoch)
        if saved is not None:
            self.wait, self.best = saved["wait"], saved["best"]
        return saved

    def _record(self, epoch: int, **state: Any) -> dict[str, dict[str, Any]]:
        best = None if self.best is None else float(self.best)
        return self.state.save(epoch + 1, {"wait": self.wait, "best": best, **state})


class ResumableEarlyStopping(_Resumable, keras.callbacks.EarlyStopping):
    """EarlyStopping whose wait counter, best value, best epoch and best weights are
    saved in `folder` on every backup and taken back after `start_epoch` epochs."""

    def __init__(
        self,
        params: EarlyStoppingParams,
        folder: Path,
        start_epoch: int,
        cadence: BackupCadence | None = None,
    ) -> None:
        super().__init__(
            monitor=params.monitor,
            patience=params.patience,
            min_delta=params.min_delta,
            restore_best_weights=params.restore_best_weights,
            verbose=1,
        )
        self._keep_state(folder, "early_stopping", start_epoch, cadence)
        self._saved_weights: list[np.ndarray] | None = None

    def stopped_after(self) -> int | None:
        """Epochs done when an earlier run already stopped at `start_epoch` (else None)."""
        saved = self.state.after(self.start_epoch)
        return self.start_epoch if saved and saved["stopped_epoch"] else None

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if (saved := self._restore()) is None:
            return
        self.best_epoch, self.stopped_epoch = saved["best_epoch"], saved["stopped_epoch"]
        if saved["weights"]:
            with np.load(self.folder / saved["weights"]) as arrays:
                self.best_weights = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
            self._saved_weights = self.best_weights

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if not self.cadence.due(epoch):
            return
        weights = None
        if self.best_weights is not None:
            weights = f"best-{self.best_epoch + 1}.npz"
            if self.best_weights is not self._saved_weights:
                with atomic_path(self.folder / weights) as temporary:
                    np.savez(temporary, *self.best_weights)
                self._saved_weights = self.best_weights
        kept = self._record(
            epoch, best_epoch=self.best_epoch, stopped_epoch=self.stopped_epoch, weights=weights
        )
        wanted = {snapshot["weights"] for snapshot in kept.values()}
        for stale in self.folder.glob("best-*.npz"):
            if stale.name not in wanted:
                stale.unlink()

    def summary(self, epochs_run: int) -> dict[str, int | None]:
        """`best_epoch` (counted from 1, as the history) and `stopped_epoch`: the last
        epoch trained, the maximum when patience never ran out."""
        return {"best_epoch": self.best_epoch + 1, "stopped_epoch": epochs_run}


class ResumablePlateau(_Resumable, keras.callbacks.ReduceLROnPlateau):
    """ReduceLROnPlateau whose wait, cooldown, best value and learning rate are saved in
    `folder` on every backup and taken back after `start_epoch` epochs."""

    def __init__(
        self,
        params: PlateauParams,
        folder: Path,
        start_epoch: int,
        cadence: BackupCadence | None = None,
    ) -> None:
        super().__init__(
            monitor=params.monitor,
            factor=params.factor,
            patience=params.patience,
            min_lr=params.min_learning_rate,
            verbose=1,
        )
        self._keep_state(folder, "plateau", start_epoch, cadence)

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if (saved := self._restore()) is None:
            return
        self.cooldown_counter = saved["cooldown_counter"]
        self.model.optimizer.learning_rate = saved["learning_rate"]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if not self.cadence.due(epoch):
            return
        learning_rate = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        self._record(
            epoch, cooldown_counter=self.cooldown_counter, learning_rate=float(learning_rate)
        )


def convergence_callbacks(
    variation: VariationParams, folder: Path, start_epoch: int, cadence: BackupCadence
) -> list[keras.callbacks.Callback]:
    """The variation's early stopping and plateau schedule (none, one or both), resuming
    after `start_epoch` epochs from their state in `folder`, saving it on `cadence`."""
    callbacks: list[keras.callbacks.Callback] = []
    if (stopping := variation.early_stopping) is not None:
        callbacks.append(ResumableEarlyStopping(stopping, folder, start_epoch, cadence))
    if variation.plateau is not None:
        callbacks.append(ResumablePlateau(variation.plateau, folder, start_epoch, cadence))
    return callbacks


def early_stopping_of(
    callbacks: list[keras.callbacks.Callback],
) -> ResumableEarlyStopping | None:
    """The early-stopping callback among `callbacks`, if any."""
    return next((c for c in callbacks if isinstance(c, ResumableEarlyStopping)), None)
