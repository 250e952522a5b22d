"""The benchmark scripts run: the FLOP count, the study-style baseline on JPEG files, and
the device-resident JAX script dry-run on the CPU with tiny sizes."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import keras
import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmarks.flops import multiply_adds, training_flops_per_image
from benchmarks.pipeline_overhead import merge_children, totals
from benchmarks.study_baseline import main as study_baseline
from stages.core.config import load_params
from stages.training.model import build_classifier


def test_v4_multiply_adds_counted_from_the_layer_shapes(repo) -> None:
    params = load_params(repo / "params.yaml")
    model = build_classifier(params.variation("v4"), params.image)
    first = 117 * 117 * 16 * 4 * 4 * 3
    convolutions = first + 36 * 36 * 32 * 4 * 4 * 16 + 9 * 9 * 64 * 4 * 4 * 32
    dense = 3 * 3 * 64 * 1024 + 1024 * 2048 + 2048 * 2048 + 2048 * 1
    assert multiply_adds(model) == convolutions + dense
    # Forward, weight and input gradients, but no input gradient for the photo itself.
    assert training_flops_per_image(model) == 6 * (convolutions + dense) - 2 * first


@pytest.mark.slow
def test_study_baseline_trains_from_jpeg_files(
    microsoft_zip, small_prepared, repo, tmp_path
) -> None:
    index = small_prepared.cache.index
    with zipfile.ZipFile(microsoft_zip) as archive:
        archive.extractall(tmp_path / "photos", members=pd.read_csv(index)["filename"])
    arguments = ["--photos", str(tmp_path / "photos"), "--epochs", "2"]
    arguments += ["--train-csv", str(small_prepared.train_csv)]
    arguments += ["--test-csv", str(small_prepared.test_csv)]
    arguments += ["--params", str(repo / "params.yaml")]
    result = CliRunner().invoke(study_baseline_app(), arguments)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["train_images"] == len(pd.read_csv(small_prepared.train_csv))
    assert summary["steady_train_images_per_second"] > 0


def study_baseline_app():
    import typer

    app = typer.Typer()
    app.command()(study_baseline)
    return app


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's profiler")
def test_step_profile_accounts_for_every_layer(repo) -> None:
    arguments = [sys.executable, "-m", "benchmarks.step_profile", "--photos", "128"]
    arguments += ["--epochs", "1"]
    arguments += ["--precision", "float32", "--params", str(repo / "params.yaml")]
    result = subprocess.run(arguments, cwd=repo, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report = result.stdout
    for layer in ("conv1", "conv2", "conv3", "dense1", "dense2", "dense3", "augmentation"):
        assert f"| {layer} |" in report
    assert "of the matmul rate; the whole step at" in report


def test_overhead_counts_a_warm_child_inside_its_client() -> None:
    """The process DVC started (the client) spans its warm child: the child's imports add
    to the client's, its epochs are the client's, and no time is counted twice."""
    client = {"stage": "train@v4-42", "started": 10.0, "reached_site": 10.3, "imports": 0.1}
    client |= {"ended": 30.0, "train_seconds": 15.0, "warm_child": False}
    child = {**client, "started": 10.5, "reached_site": 10.6, "imports": 0.4}
    child |= {"ended": 29.9, "warm_child": True}
    (merged,) = merge_children([client, child])
    assert merged["imports"] == pytest.approx(0.5) and merged["started"] == 10.0
    merged["dvc_before"] = 1.0
    summary = totals(wall=21.0, records=[merged])
    assert summary["epochs"] == 15.0 and summary["DVC"] == pytest.approx(1.0)
    assert summary["work outside epochs"] == pytest.approx(20.0 - 15.0 - 0.5 - 0.3)
