"""Training's per-epoch log (stages/training/history.py): dvclive's files hold every epoch
exactly once, counted from 1, after a resume from a backup one epoch behind the log, and
after a real `kill -9` of a training process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import keras
import pandas as pd
import pytest

from stages.core.runs import CURVES, curve_file, read_history
from stages.training.history import TrainingLog
from tests.support.params import write_params
from tests.support.prepared import SMALLEST_SIDE
from tests.support.training import train_arguments


@pytest.fixture(autouse=True)
def outside_any_repository(monkeypatch, tmp_path) -> None:
    """dvclive looks for a git or DVC repository from the working folder (and marks its
    steps for the VS Code extension under its .dvc/tmp): not this project's."""
    monkeypatch.chdir(tmp_path)


def logs(epoch: int) -> dict[str, float]:
    """The logs of epoch `epoch` (from 0), as Keras gives them to on_epoch_end."""
    step = epoch / 100
    return {
        "accuracy": 0.5 + step,
        "loss": 1 - step,
        "val_accuracy": 0.4 + step,
        "val_loss": 1.1 - step,
    }


def drive(log: TrainingLog, start: int, stop: int) -> None:
    """Epochs `start` to `stop - 1` (from 0) as a hand-driven CallbackList calls them (the
    hooks `fit` calls too, in its order)."""
    callbacks = keras.callbacks.CallbackList([log], add_history=False, add_progbar=False)
    callbacks.on_train_begin()
    for epoch in range(start, stop):
        callbacks.on_epoch_begin(epoch)
        callbacks.on_test_begin()
        callbacks.on_epoch_end(epoch, logs(epoch))
    callbacks.on_train_end()


def assert_each_epoch_once(live: Path, epochs: int) -> None:
    """Every file dvclive wrote under `live` has epochs 1 to `epochs`, each once."""
    for curve in CURVES:
        table = pd.read_csv(curve_file(live, curve), sep="\t")
        assert list(table.columns) == ["step", curve]
        assert list(table["step"]) == list(range(1, epochs + 1)), curve
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["step"] == epochs
    assert set(summary) == {*CURVES, "step"}
    assert sorted(path.name for path in live.rglob("*") if path.is_file()) == sorted(
        ["metrics.json", *(f"{curve}.tsv" for curve in CURVES)]
    )


def test_each_epoch_is_logged_with_dvclive_counted_from_one(tmp_path) -> None:
    state, live = tmp_path / "checkpoint" / "history.csv", tmp_path / "run" / "dvclive"
    log = TrainingLog(state, live)
    drive(log, 0, 3)
    assert_each_epoch_once(live, 3)
    history = read_history(live)
    assert list(history.columns) == ["epoch", *CURVES]
    assert history["val_loss"].tolist() == pytest.approx([1.1, 1.09, 1.08])
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["accuracy"] == pytest.approx(0.52)
    kept = pd.read_csv(state)
    assert list(kept["epoch"]) == [1, 2, 3] and (kept["seconds"] >= kept["fit_seconds"]).all()
    assert log.seconds == pytest.approx(kept["seconds"].sum())


def test_a_resume_one_epoch_behind_the_log_logs_each_epoch_once(tmp_path) -> None:
    """Killed after epoch 3's row was saved, before its backup: the resumed run restarts
    at epoch 3 (index 2). Its row and what dvclive wrote past it are dropped."""
    state, live = tmp_path / "checkpoint" / "history.csv", tmp_path / "run" / "dvclive"
    drive(TrainingLog(state, live), 0, 3)
    before = read_history(live)
    resumed = TrainingLog(state, live)
    drive(resumed, 2, 5)
    assert_each_epoch_once(live, 5)
    assert [row["epoch"] for row in resumed.rows] == [1, 2, 3, 4, 5]
    assert list(pd.read_csv(state)["epoch"]) == [1, 2, 3, 4, 5]
    assert read_history(live).iloc[:2].equals(before.iloc[:2])


def test_the_folder_is_rebuilt_from_the_kept_rows(tmp_path) -> None:
    """DVC deletes the dvclive folder before rerunning the stage; with every epoch already
    backed up, no epoch runs and on_train_end alone writes it back. Leftovers of a killed
    run in the folder are replaced."""
    state, live = tmp_path / "checkpoint" / "history.csv", tmp_path / "run" / "dvclive"
    drive(TrainingLog(state, live), 0, 4)
    curve_file(live, "accuracy").write_text("step\taccuracy\n1\t0.5\n2\t0.51\n3\t0.5")  # torn
    (live / "metrics.json").unlink()
    drive(TrainingLog(state, live), 4, 4)
    assert_each_epoch_once(live, 4)


EPOCHS, KILLED_AT = 4, 3
# `catdog train`, SIGKILLed at the end of epoch KILLED_AT: after the log saved its row and
# dvclive wrote it, before BackupAndRestore saved that epoch (the backup is one behind).
VICTIM = f"""
import os, signal, sys
import keras
from stages.cli import main

backup_epoch_end = keras.callbacks.BackupAndRestore.on_epoch_end
def killed(self, epoch, logs=None):
    if epoch + 1 == {KILLED_AT}:
        os.kill(os.getpid(), signal.SIGKILL)
    backup_epoch_end(self, epoch, logs)
keras.callbacks.BackupAndRestore.on_epoch_end = killed
sys.argv[0] = "catdog"
main()
"""


@pytest.mark.slow
def test_kill_minus_9_then_resume_logs_each_epoch_once(tmp_path, repo, small_prepared_66) -> None:
    def edit(params) -> None:
        params["image"].update(height=SMALLEST_SIDE, width=SMALLEST_SIDE)
        params["augment"]["enabled"] = False
        params["train"]["backup_seconds"] = 0  # a backup after every epoch
        params["variations"]["v4"].update(epochs=EPOCHS, batch_size=32)

    run = tmp_path / "run"
    checkpoints = run / "checkpoints"
    arguments = train_arguments(write_params(tmp_path, repo, edit), small_prepared_66, run)
    env = {**os.environ, "PYTHONPATH": str(repo)}
    victim = subprocess.run(
        [sys.executable, "-c", VICTIM, *arguments], env=env, capture_output=True, text=True
    )
    assert victim.returncode == -signal.SIGKILL, victim.stderr[-3000:]
    (folder,) = checkpoints.iterdir()
    metadata = json.loads((folder / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == KILLED_AT - 1
    assert list(pd.read_csv(folder / "history.csv")["epoch"]) == list(range(1, KILLED_AT + 1))
    assert list(read_history(run / "dvclive")["epoch"]) == list(range(1, KILLED_AT + 1))

    resumed = subprocess.run(
        [sys.executable, "-m", "stages.cli", *arguments], env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming after epoch {KILLED_AT - 1} of {EPOCHS}" in resumed.stderr
    assert_each_epoch_once(run / "dvclive", EPOCHS)
    assert json.loads((run / "train.json").read_text())["epochs"] == EPOCHS
    assert not list(checkpoints.iterdir())
