"""The resume checkpoint's folder is keyed by everything training reads: change the splits,
the params or the decode cache and the fingerprint changes, so a stale checkpoint is never
resumed. (The resume itself, after a real kill -9, is tests/test_pipeline.py's.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stages.core.config import Params, load_params
from stages.core.dataset import CachePaths
from stages.training.train import Engine, checkpoint_folder, epochs_done


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
