"""The backup cadence: which epochs end with a resumable backup (stages/training/backup.py)."""

from __future__ import annotations

import keras
import numpy as np

from stages.training.backup import BackupCadence, CadencedBackup
from stages.training.train import epochs_done
from tests.support.clock import ticking


def backed_up(cadence: BackupCadence, epochs: int) -> list[int]:
    return [epoch + 1 for epoch in range(epochs) if cadence.due(epoch)]


def test_zero_seconds_backs_up_every_epoch() -> None:
    assert backed_up(BackupCadence(0.0, clock=ticking(0.0)), 5) == [1, 2, 3, 4, 5]


def test_an_epoch_is_backed_up_once_the_seconds_since_the_last_backup_have_passed() -> None:
    # Read at the start (0 s) and once per epoch: 1, 2, 3, ... s.
    assert backed_up(BackupCadence(2.0, clock=ticking()), 7) == [2, 4, 6]
    assert backed_up(BackupCadence(3.0, clock=ticking()), 7) == [3, 6]


def test_the_end_of_a_phase_another_follows_is_always_backed_up() -> None:
    assert backed_up(BackupCadence(100.0, phase_end=3, clock=ticking()), 5) == [3]
    assert backed_up(BackupCadence(100.0, clock=ticking()), 5) == []


def test_every_callback_asking_about_an_epoch_gets_the_same_answer() -> None:
    cadence = BackupCadence(2.0, clock=ticking())
    answers = [[cadence.due(epoch) for _ in range(3)] for epoch in range(4)]
    assert answers == [[False] * 3, [True] * 3, [False] * 3, [True] * 3]


def test_the_backup_saves_only_on_the_epochs_its_cadence_names(tmp_path) -> None:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    backup = CadencedBackup(tmp_path / "backup", BackupCadence(2.0, clock=ticking()))
    held = []  # after each epoch: the epochs the backup holds
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: held.append(epochs_done(tmp_path / "backup"))
    )
    data = np.zeros((4, 2), "float32"), np.zeros((4, 1), "float32")
    model.fit(*data, epochs=5, verbose=0, callbacks=[backup, record])
    assert held == [0, 2, 2, 4, 4]
