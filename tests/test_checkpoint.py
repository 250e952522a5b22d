"""The resume checkpoint's folder is keyed by everything training reads: change the splits,
the params or the decode cache and the fingerprint changes, so a stale checkpoint is never
resumed, and a run that starts collects its own stale ones. (The resume itself, after a
real kill -9, is tests/test_pipeline.py's.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import pytest
from typer.testing import CliRunner

from stages.cli import app
from stages.core.config import Params, load_params
from stages.core.dataset import CachePaths
from stages.core.errors import CatdogError
from stages.training import train as train_module
from stages.training.checkpoints import collect_stale, held
from stages.training.train import Engine, checkpoint_folder, epochs_done, params_read
from tests.support.params import edit_params, set_param, set_params, write_params
from tests.support.prepared import SMALLEST_SIDE
from tests.support.training import train_arguments


@pytest.fixture
def inputs(tmp_path, repo) -> dict:
    """A params object and stand-in split CSVs and decode cache (only their bytes count)."""
    (tmp_path / "train.csv").write_text("filename,category\ncat.1.jpg,cat\n")
    (tmp_path / "test.csv").write_text("filename,category\ndog.1.jpg,dog\n")
    (tmp_path / "index.csv").write_text("filename,category,row\ncat.1.jpg,cat,0\n")
    (tmp_path / "images.npy").write_bytes(b"\x93NUMPY" + bytes(100))
    return {
        "params": load_params(repo / "params.yaml"),
        "cache": CachePaths(tmp_path / "images.npy", tmp_path / "index.csv"),
        "train": tmp_path / "train.csv",
        "test": tmp_path / "test.csv",
        "root": tmp_path / "checkpoints",
    }


def folder(
    inputs: dict,
    params: Params | None = None,
    name: str = "v4",
    seed: int = 42,
    engine: Engine = "fit",
) -> Path:
    return checkpoint_folder(
        inputs["root"], params or inputs["params"], name, inputs["cache"], inputs["train"],
        inputs["test"], seed, engine,
    )  # fmt: skip


def _with(params: Params, block: str, **changes: object) -> Params:
    return params.model_copy(update={block: getattr(params, block).model_copy(update=changes)})


def _with_variation(params: Params, name: str, **changes: object) -> Params:
    variation = params.variations[name].model_copy(update=changes)
    return params.model_copy(update={"variations": {**params.variations, name: variation}})


def test_the_folder_is_the_variation_and_a_stable_fingerprint(inputs) -> None:
    first = folder(inputs)
    assert first.parent == inputs["root"]
    assert first.name.startswith("v4-42-") and len(first.name) == len("v4-42-") + 12
    assert folder(inputs) == first
    assert folder(inputs, name="v5").name.startswith("v5-42-")
    assert folder(inputs, name="v5").name[6:] != first.name[6:]
    assert folder(inputs, seed=7).name.startswith("v4-7-")
    assert folder(inputs, seed=7).name[5:] != first.name[6:]
    assert folder(inputs, engine="resident") != first


def test_adding_a_seed_keeps_the_other_seeds_checkpoints(inputs) -> None:
    more = _with(inputs["params"], "train", seeds=[42, 7])
    assert folder(inputs, more) == folder(inputs)


def test_another_backup_cadence_resumes_the_same_checkpoint(inputs) -> None:
    every_epoch = _with(inputs["params"], "train", backup_seconds=0.0)
    assert inputs["params"].train.backup_seconds != 0.0
    assert folder(inputs, every_epoch) == folder(inputs)


def _edit_file(path: Path) -> None:
    with path.open("a") as handle:
        handle.write("cat.2.jpg,cat\n")


def _touch_images(inputs: dict) -> None:
    images = inputs["cache"].images
    stat = images.stat()
    os.utime(images, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def _grow_images(inputs: dict) -> None:
    with inputs["cache"].images.open("ab") as handle:
        handle.write(b"\0")


FILE_CHANGES = {
    "train split": lambda inputs: _edit_file(inputs["train"]),
    "test split": lambda inputs: _edit_file(inputs["test"]),
    "cache index": lambda inputs: _edit_file(inputs["cache"].index),
    "cache pixels rewritten": _touch_images,
    "cache pixels resized": _grow_images,
}


@pytest.mark.parametrize("change", list(FILE_CHANGES))
def test_changed_splits_or_cache_change_the_fingerprint(inputs, change) -> None:
    before = folder(inputs)
    FILE_CHANGES[change](inputs)
    assert folder(inputs) != before


PARAM_CHANGES = {
    "epochs": lambda p: _with_variation(p, "v4", epochs=3),
    "batch_size": lambda p: _with_variation(p, "v4", batch_size=16),
    "learning_rate": lambda p: _with_variation(p, "v4", learning_rate=0.0005),
    "image": lambda p: _with(p, "image", height=100),
    "augment": lambda p: _with(p, "augment", rotation=5.0),
    "train.precision": lambda p: _with(p, "train", precision="mixed_bfloat16"),
}


@pytest.mark.parametrize("change", list(PARAM_CHANGES))
def test_changed_params_change_the_fingerprint(inputs, change) -> None:
    assert folder(inputs, PARAM_CHANGES[change](inputs["params"])) != folder(inputs)


def test_another_variations_params_do_not_matter(inputs) -> None:
    assert folder(inputs, _with_variation(inputs["params"], "v5", epochs=3)) == folder(inputs)


def test_a_stale_checkpoint_is_never_resumed(inputs) -> None:
    stale = folder(inputs) / "backup"
    stale.mkdir(parents=True)
    (stale / "training_metadata.json").write_text(json.dumps({"epoch": 3}))
    assert epochs_done(stale) == 3
    _edit_file(inputs["train"])
    fresh = folder(inputs)
    assert fresh != stale.parent
    assert epochs_done(fresh / "backup") == 0
    assert epochs_done(folder(inputs, PARAM_CHANGES["epochs"](inputs["params"])) / "backup") == 0


def test_the_params_a_run_reads_are_what_its_fingerprint_covers(inputs) -> None:
    params = inputs["params"]
    read = params_read(params, "v4")
    assert read["variation"]["learning_rate"] == params.variations["v4"].learning_rate
    assert set(read) == {"variation", "image", "augment", "train"}
    assert set(read["train"]) == {"precision", "steps_per_execution", "distribution", "backend"}
    for change in PARAM_CHANGES.values():
        assert params_read(change(params), "v4") != read


def _saved(folder: Path, megabytes: int = 1) -> Path:
    """`folder` as a run leaves it: a backup of `megabytes` and its history."""
    (folder / "backup").mkdir(parents=True)
    (folder / "backup" / "weights.h5").write_bytes(bytes(megabytes * 1_000_000))
    (folder / "history.csv").write_text("epoch\n1\n")
    return folder


def test_a_run_collects_its_own_runs_checkpoints_under_other_fingerprints(inputs, capsys) -> None:
    other_params = _saved(folder(inputs, PARAM_CHANGES["learning_rate"](inputs["params"])), 2)
    _edit_file(inputs["train"])
    other_data = _saved(folder(inputs))
    _edit_file(inputs["train"])
    current = _saved(folder(inputs))
    others = [
        _saved(folder(inputs, name="v5")),
        _saved(folder(inputs, seed=4)),  # v4-4-...: not v4-42's
        _saved(folder(inputs, seed=420)),
        _saved(inputs["root"] / "v4-42-notafingerprint"),
    ]
    assert collect_stale(current, "train@v4-42") == sorted([other_params, other_data])
    assert sorted(inputs["root"].iterdir()) == sorted([current, *others])
    assert (current / "backup" / "weights.h5").exists()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert (
        f"train@v4-42: removed {other_params} (2.0 MB), a checkpoint saved under other params "
        "or data: nothing can resume it"
    ) in lines


def test_a_checkpoint_another_live_run_holds_is_left_alone(inputs, capsys) -> None:
    current = folder(inputs)
    stale = _saved(folder(inputs, PARAM_CHANGES["epochs"](inputs["params"])))
    with held(stale, "train@v4-42"):
        assert collect_stale(current, "train@v4-42") == []
        refused = pytest.raises(CatdogError, match="is in use by another run of the same params")
        with refused, held(stale, "train@v4-42"):
            pass
    in_use = f"train@v4-42: {stale} is in use by another run; left alone\n"
    assert capsys.readouterr().err == in_use
    assert collect_stale(current, "train@v4-42") == [stale]


SIDE, EPOCHS = SMALLEST_SIDE, 2


class EditAfterFirstEpoch(keras.callbacks.Callback):
    """Edit the params file at the end of the first epoch, as a user would mid-run."""

    def __init__(self, path: Path, dotted: str, value: object) -> None:
        super().__init__()
        self.path, self.dotted, self.value = path, dotted, value

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == 0:
            edit_params(self.path.parent, set_param(self.dotted, self.value))


@pytest.mark.slow
def test_params_edited_mid_training_record_nothing_and_the_rerun_costs_little(
    tmp_path, repo, small_prepared_66, monkeypatch, capsys
) -> None:
    """The real `catdog train`: params.yaml edited after the first epoch fails the command
    in one line, keeping the checkpoint. Another variation's key: the rerun resumes after
    the last epoch. The run's own key: the rerun removes the stale checkpoint and trains
    anew. train.json records the params each run trained with."""
    monkeypatch.chdir(tmp_path)  # dvclive looks for a repository from here: not ours
    settings = {"image.height": SIDE, "image.width": SIDE, "augment.enabled": False}
    settings |= {"train.backup_seconds": 0, "variations.v4.epochs": EPOCHS}
    params = write_params(
        tmp_path, repo, set_params({**settings, "variations.v4.dense_units": [16]})
    )
    run = tmp_path / "run"
    checkpoints, summary = run / "checkpoints", run / "train.json"
    arguments = train_arguments(params, small_prepared_66, run)
    real = train_module.convergence_callbacks

    def edited_mid_run(dotted: str, value: object) -> list[str]:
        editor = EditAfterFirstEpoch(params, dotted, value)
        monkeypatch.setattr(train_module, "convergence_callbacks", lambda *a: [*real(*a), editor])
        result = CliRunner().invoke(app, arguments)
        monkeypatch.setattr(train_module, "convergence_callbacks", real)
        assert result.exit_code == 2, result.output
        return [line for line in result.stderr.splitlines() if line.startswith("error:")]

    def rerun() -> str:
        result = CliRunner().invoke(app, arguments)
        assert result.exit_code == 0, result.output
        assert not list(checkpoints.iterdir())
        trained_with = json.loads(summary.read_text())["trained_with"]
        assert trained_with == params_read(load_params(params), "v4")
        return result.stderr

    assert edited_mid_run("variations.v5.batch_size", 16) == [
        f"error: {params} changed while train ran: variations.v5.batch_size (32 -> 16); "
        "run it again"
    ]
    (kept,) = checkpoints.iterdir()
    assert epochs_done(kept / "backup") == EPOCHS
    assert f"resuming after epoch {EPOCHS} of {EPOCHS}" in rerun()

    assert edited_mid_run("variations.v4.learning_rate", 0.0005) == [
        f"error: {params} changed while train ran: variations.v4.learning_rate "
        "(0.001 -> 0.0005); run it again"
    ]
    (stale,) = checkpoints.iterdir()
    log = rerun()
    assert f"removed {stale}" in log and "resuming" not in log
    assert json.loads(summary.read_text())["trained_with"]["variation"]["learning_rate"] == 0.0005
