"""How often training backs itself up for a resume after a crash.

Keras' BackupAndRestore saves the weights and the optimizer state after every epoch. On a
fast device that costs more than the epoch itself (0.75 s an epoch for base's 27.8 M
weights on an H200, whose epochs took about 0.7 s), so the train stage backs up at the
end of the first epoch that ends `train.backup_seconds` after the previous backup (0:
after every epoch), and at the end of every phase but the last (v7's frozen phase).

Early stopping's and the plateau schedule's state is saved on the same epochs, so a
resumed run finds it for the epoch its backup holds. A resumed run trains again the
epochs since its backup, with the same augmentation draws (and, on the resident engine,
the same batches): the cadence sets how much work a crash costs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import keras


class BackupCadence:
    """Which epochs end with a backup: the first to end `seconds` after the previous
    backup (or the start), and `phase_end`, the last epoch of a phase followed by another.

    Asked once per epoch by every callback that saves state, it gives each the same answer.
    """

    def __init__(
        self,
        seconds: float,
        phase_end: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds, self.phase_end, self.clock = seconds, phase_end, clock
        self.last_backup = clock()
        self.decided: dict[int, bool] = {}

    def due(self, epoch: int) -> bool:
        """Whether epoch `epoch` (counted from 0) ends with a backup."""
        if epoch not in self.decided:
            now = self.clock()
            due = epoch + 1 == self.phase_end or now - self.last_backup >= self.seconds
            if due:
                self.last_backup = now
            self.decided[epoch] = due
        return self.decided[epoch]


def every_epoch() -> BackupCadence:
    """A backup after every epoch."""
    return BackupCadence(0.0)


class CadencedBackup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore (two copies kept: a kill mid-save falls back to the previous one)
    that saves only on the epochs `cadence` names."""

    def __init__(self, folder: Path, cadence: BackupCadence) -> None:
        super().__init__(str(folder), double_checkpoint=True, delete_checkpoint=False)
        self.cadence = cadence

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.cadence.due(epoch):
            super().on_epoch_end(epoch, logs)
