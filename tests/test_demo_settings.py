"""`make demo`'s settings: the `-S` overrides it hands `dvc exp run` make a valid params.yaml
(read from `make -n`, so the test sees exactly what the Makefile runs)."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

from stages.core.config import Params, load_params
from stages.core.errors import ConfigError
from tests.support.demo import demo_command, demo_dry_run, demo_settings
from tests.support.params import set_params, write_params

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def demo_params(repo: Path, tmp_path: Path, *variables: str) -> Params:
    """params.yaml as `make demo <variables>` would run it."""
    settings = demo_settings(demo_command(repo, *variables))
    return load_params(write_params(tmp_path, repo, set_params(settings)))


def test_the_demo_runs_every_variation_briefly_on_small_synthetic_photos(repo, tmp_path):
    params = demo_params(repo, tmp_path)
    assert params.data.source == "sources/synthetic.yaml"
    assert (params.image.height, params.image.width) == (72, 72)
    study = ["base", "v1", "v2", "v3", "v4", "v5"]
    assert {params.variations[name].epochs for name in study} == {4}
    v6, v7 = params.variations["v6"], params.variations["v7"]
    assert v6.epochs == 8 and v6.early_stopping and v6.early_stopping.patience == 1
    assert v7.epochs == 2 and v7.backbone and v7.backbone.frozen_epochs == 1
    assert v7.backbone.weights is None  # offline


def test_the_study_size_is_one_variable_away(repo, tmp_path):
    params = demo_params(repo, tmp_path, "DEMO_SIDE=120", "DEMO_EPOCHS=6")
    assert (params.image.height, params.variations["v4"].epochs) == (120, 6)


def test_a_side_too_small_for_the_study_networks_is_refused(repo, tmp_path):
    with pytest.raises(ConfigError, match="shrinks a 64x64 image to nothing"):
        demo_params(repo, tmp_path, "DEMO_SIDE=64")


def test_the_demo_ends_by_saying_what_ran_and_how_to_look_at_it(repo):
    lines = demo_dry_run(repo)
    said = "\n".join(shlex.split(line)[1] for line in lines if line.startswith("echo "))
    assert "a smoke test, not a result" in said
    assert "synthetic set" in said and "72x72 pixels for 4 epochs" in said
    for command in ("source .venv/bin/activate", "dvc exp show", "dvc plots diff demo"):
        assert command in said, command
    assert "dvc exp apply demo" in said
