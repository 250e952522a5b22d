"""v6: early stopping on the validation split, with best weights restored and a plateau
schedule, whose state survives a restart; and the real stage stopping v6 early."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from stages.core.config import SplitParams, load_params
from stages.core.runs import read_history
from stages.ingest import split
from stages.reporting.epochs import EpochsVerdict, capped_seeds, verdict_of
from stages.training import train as train_module
from stages.training.backup import BackupCadence
from stages.training.convergence import ResumableEarlyStopping, ResumablePlateau
from stages.training.train import TrainInputs, TrainOutputs, train
from tests.support.clock import ticking

# val_loss per epoch: best at epoch 3 (index 2), then no improvement.
LOSSES = [0.9, 0.7, 0.5, 0.6, 0.55, 0.8, 0.9, 0.95]


def tiny_model() -> keras.Model:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def stopping(
    repo: Path,
    folder: Path,
    start_epoch: int,
    model: keras.Model,
    cadence: BackupCadence | None = None,
):
    params = load_params(repo / "params.yaml").variations["v6"]
    assert params.early_stopping is not None and params.plateau is not None
    early = params.early_stopping.model_copy(update={"patience": 3})
    plateau = params.plateau.model_copy(update={"patience": 2})
    callbacks = [
        ResumableEarlyStopping(early, folder, start_epoch, cadence),
        ResumablePlateau(plateau, folder, start_epoch, cadence),
    ]
    for callback in callbacks:
        callback.set_model(model)
        callback.on_train_begin()
    return callbacks


def run_epochs(callbacks, model: keras.Model, epochs: range) -> None:
    for epoch in epochs:
        # Each epoch's weights are recognisable: every weight equals the epoch number.
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        for callback in callbacks:
            callback.on_epoch_end(epoch, {"val_loss": LOSSES[epoch], "loss": 0.1})


def state_of(early: ResumableEarlyStopping, plateau: ResumablePlateau, model) -> tuple:
    learning_rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    return (early.wait, early.best, early.best_epoch, plateau.wait, plateau.best, learning_rate)


def test_the_stopping_state_resumes_from_the_epoch_the_backup_holds(tmp_path, repo) -> None:
    model = tiny_model()
    whole = stopping(repo, tmp_path / "whole", 0, model)
    run_epochs(whole, model, range(4))
    expected = state_of(*whole, model)
    # A run killed after epoch 5's state was written but before its backup: the backup
    # holds 4 epochs, and so does the state a resumed run takes.
    killed = stopping(repo, tmp_path / "killed", 0, model)
    run_epochs(killed, model, range(5))
    resumed_model = tiny_model()
    resumed = stopping(repo, tmp_path / "killed", 4, resumed_model)
    assert state_of(*resumed, resumed_model) == expected
    assert resumed[0].best_epoch == 2
    assert all((w == 2).all() for w in resumed[0].best_weights)
    assert sorted(p.name for p in (tmp_path / "killed").glob("best-*.npz")) == ["best-3.npz"]


def test_with_backups_every_other_epoch_the_state_resumes_from_the_last_backup(
    tmp_path, repo
) -> None:
    model = tiny_model()
    whole = stopping(repo, tmp_path / "whole", 0, model)
    run_epochs(whole, model, range(4))
    expected = state_of(*whole, model)
    # Backups after epochs 2 and 4 (a clock read at the start and once an epoch, 1 s
    # apart); killed after epoch 5: the state is there for the backup's 4 epochs.
    cadence = BackupCadence(2.0, clock=ticking())
    killed = stopping(repo, tmp_path / "killed", 0, model, cadence)
    run_epochs(killed, model, range(5))
    assert sorted(json.loads((tmp_path / "killed" / "plateau.json").read_text())) == ["2", "4"]
    resumed_model = tiny_model()
    resumed = stopping(repo, tmp_path / "killed", 4, resumed_model)
    assert state_of(*resumed, resumed_model) == expected


def test_patience_runs_out_then_the_best_weights_come_back(tmp_path, repo) -> None:
    model = tiny_model()
    early, plateau = stopping(repo, tmp_path, 0, model)
    run_epochs([early, plateau], model, range(5))
    assert not model.stop_training
    # Killed here; the resumed run still stops at the same epoch, three after the best.
    early, plateau = stopping(repo, tmp_path, 5, model)
    run_epochs([early, plateau], model, range(5, 6))
    assert model.stop_training and early.stopped_epoch == 5
    assert early.summary(epochs_run=6) == {"best_epoch": 3, "stopped_epoch": 6}
    early.on_train_end()
    assert all((w == 2).all() for w in model.get_weights())
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) < 0.01
    # Killed after stopping, before the outputs: a rerun trains no more epochs.
    assert ResumableEarlyStopping(early_params(repo), tmp_path, 6).stopped_after() == 6
    assert ResumableEarlyStopping(early_params(repo), tmp_path, 5).stopped_after() is None


def early_params(repo: Path):
    return load_params(repo / "params.yaml").variations["v6"].early_stopping


MAXIMUM = 40


@pytest.mark.slow
def test_v6_stops_before_its_maximum_and_survives_a_kill(
    tmp_path, repo, small_prepared, monkeypatch, capsys
) -> None:
    """The real stage on the small synthetic set, split.validation 0.1: v6 (its dense
    layers narrowed, patience 3) stops before MAXIMUM epochs; a run backing up every
    other epoch, interrupted after three, resumes from its backup after two with its
    counters, so it stops `patience` epochs after its best."""
    paths = split.SplitOutputs(tmp_path / "train.csv", tmp_path / "test.csv", tmp_path / "v.csv")
    split.run(
        SplitParams(test_size=0.2, seed=42, validation=0.1),
        split.SplitInputs(small_prepared.cache.index),
        paths,
    )
    params = load_params(repo / "params.yaml")
    v6 = params.variations["v6"]
    assert v6.early_stopping is not None and params.split.validation == 0.1
    v6 = v6.model_copy(
        update={
            "epochs": MAXIMUM,
            "dense_units": [16],
            "early_stopping": v6.early_stopping.model_copy(update={"patience": 3}),
        }
    )
    params = params.model_copy(
        update={
            "variations": {**params.variations, "v6": v6},
            "train": params.train.model_copy(update={"backup_seconds": 2.0}),
        }
    )
    # A clock 1 s further on each time the cadence reads it: backups after epochs 2, 4, ...
    monkeypatch.setattr(
        train_module, "BackupCadence", functools.partial(BackupCadence, clock=ticking())
    )
    inputs = TrainInputs(small_prepared.cache, paths.train, paths.validation, tmp_path / "ckpt")
    outputs = TrainOutputs(tmp_path / "v6.keras", tmp_path / "dvclive", tmp_path / "t.json")

    class Killed(Exception):
        pass

    class KillAtEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            if epoch == 3:
                raise Killed

    real = train_module.convergence_callbacks
    monkeypatch.setattr(
        train_module, "convergence_callbacks", lambda *a: [*real(*a), KillAtEpoch()]
    )
    with pytest.raises(Killed):
        train(params, "v6", 42, inputs, outputs)
    monkeypatch.setattr(train_module, "convergence_callbacks", real)
    capsys.readouterr()
    summary = train(params, "v6", 42, inputs, outputs)
    assert f"resuming after epoch 2 of {MAXIMUM}" in capsys.readouterr().err

    history = read_history(outputs.live)
    assert summary["stopped_epoch"] < MAXIMUM, "v6 ran to its maximum"
    assert list(history["epoch"]) == list(range(1, summary["stopped_epoch"] + 1))
    assert summary["best_epoch"] == int(history["val_loss"].idxmin()) + 1
    assert summary["stopped_epoch"] == summary["best_epoch"] + 3
    assert json.loads(outputs.summary.read_text())["best_epoch"] == summary["best_epoch"]
    print(f"v6 on the small synthetic set: {summary}")


@pytest.mark.parametrize(
    ("best", "stopped", "capped", "still_falling", "verdict"),
    [
        (60, 70, False, False, "short"),
        (60, 70, True, False, "short"),  # past 50 already, wherever the maximum cut it
        (20, 30, False, False, "too many"),
        (20, 30, False, True, "not settled"),
        (20, 30, True, True, "capped"),  # out of epochs, not of patience: it never stopped
        (45, 50, False, False, "enough"),
    ],
)
def test_the_epochs_verdict_reads_both_curves(best, stopped, capped, still_falling, verdict):
    assert verdict_of(50, best, stopped, capped=capped, parent_still_falling=still_falling) == (
        verdict
    )


def epochs_verdict(**changes) -> EpochsVerdict:
    """v6 against v4's 50 epochs, at most 30 epochs, with `changes`."""
    fields = {
        **{"variation": "v6", "builds_on": "v4", "epochs": 50, "best_epoch": 20},
        **{"stopped_epoch": 30, "maximum": 30, "parent_best_epoch": 50},
        **{"parent_loss_rise": 0.0, "verdict": "capped", "capped_seeds": 3, "seeds": 3},
    }
    return EpochsVerdict(**{**fields, **changes})


def test_v6_out_of_epochs_says_so_and_what_to_raise() -> None:
    assert (
        epochs_verdict()
        .sentence()
        .endswith(
            "was best at epoch 20 and reached its maximum of 30 epochs without stopping, and "
            "v4's validation loss was still at its lowest on its last epoch (50): raise "
            "variations.v6.epochs to settle the study's 50 epochs."
        )
    )
    assert "without stopping in 1 of 3 seeds, and" in epochs_verdict(capped_seeds=1).sentence()
    short = epochs_verdict(best_epoch=55, stopped_epoch=60, maximum=60, verdict="short")
    assert short.sentence().endswith(
        ": the study's 50 epochs were short (raise variations.v6.epochs to learn how many)."
    )


def test_a_seed_is_capped_when_it_ends_at_the_maximum_with_patience_left() -> None:
    runs = {"1": (30, 30), "2": (25, 30), "3": (12, 22), "4": (20, 30)}  # (best, stopped)
    metrics = {"per_seed": {s: {"best_epoch": b, "stopped_epoch": e} for s, (b, e) in runs.items()}}
    # patience 10: seeds 1 and 2 ran out of epochs; 3 stopped early; 4's patience ran out
    # on its last epoch.
    assert capped_seeds(metrics, maximum=30, patience=10) == 2
