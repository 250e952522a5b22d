"""The same training and evaluation code runs, and learns, under KERAS_BACKEND=jax."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from ruamel.yaml import YAML

from stages.core.runs import read_history
from stages.ingest.synthetic import write_synthetic_archive
from tests.support.prepared import decode_and_split

pytestmark = pytest.mark.slow

SIDE = 66
JAX_EPOCHS = 6


def catdog(args: list[str], backend: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KERAS_BACKEND": backend}
    return subprocess.run(
        [sys.executable, "-m", "stages.cli", *args], env=env, capture_output=True, text=True
    )


@pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import jax"], capture_output=True).returncode != 0,
    reason="jax is not installed",
)
def test_train_evaluate_predict_under_jax(tmp_path, repo) -> None:
    """v4 learns under JAX: on 600 synthetic photos at 66x66 (the smallest side v4's conv
    stack takes), without augmentation, a few epochs end well above chance (0.5)."""
    yaml = YAML()
    params = yaml.load((repo / "params.yaml").read_text())
    # Batches of 16: enough steps in a few epochs of 472 photos to learn.
    params["variations"]["v4"].update(epochs=JAX_EPOCHS, batch_size=16)
    params["image"].update(height=SIDE, width=SIDE)
    params["augment"]["enabled"] = False
    params["train"]["backend"] = "jax"
    params_path = tmp_path / "params.yaml"
    with params_path.open("w") as handle:
        yaml.dump(params, handle)
    archive = tmp_path / "photos.zip"
    write_synthetic_archive(archive, 600, seed=0, layout="microsoft", workers=2)
    prepared = decode_and_split(archive, tmp_path / "data", SIDE)
    images, index = prepared.cache.images, prepared.cache.index
    common = ["--images", str(images), "--index", str(index)]
    model, summary = tmp_path / "v4.keras", tmp_path / "v4.train.json"
    trained = catdog(
        [
            "--params",
            str(params_path),
            "train",
            "v4",
            "--seed",
            "42",
            *common,
            "--train-csv",
            str(prepared.train_csv),
            "--validation-csv",
            str(prepared.test_csv),
            "--model",
            str(model),
            "--live",
            str(tmp_path / "dvclive"),
            "--summary",
            str(summary),
            "--checkpoints",
            str(tmp_path / "checkpoints"),
        ],
        "jax",
    )
    assert trained.returncode == 0, trained.stderr
    assert json.loads(summary.read_text())["backend"] == "jax"
    evaluated = catdog(
        [
            "--params",
            str(params_path),
            "evaluate",
            "v4",
            *common,
            "--model",
            str(model),
            "--test-csv",
            str(prepared.test_csv),
            "--metrics",
            str(tmp_path / "v4.json"),
            "--predictions",
            str(tmp_path / "predictions.csv"),
            "--roc",
            str(tmp_path / "roc.csv"),
        ],
        "jax",
    )
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads((tmp_path / "v4.json").read_text())
    history = read_history(tmp_path / "dvclive")
    print(f"v4 under JAX after {JAX_EPOCHS} epochs: {metrics}")
    assert metrics["accuracy"] >= 0.8 and metrics["roc_auc"] >= 0.9, metrics
    assert history["loss"].iloc[-1] < history["loss"].iloc[0] - 0.1
    photo = tmp_path / "cat.jpg"
    import zipfile

    with zipfile.ZipFile(archive) as opened:
        photo.write_bytes(opened.read("PetImages/Cat/0.jpg"))
    # A model trained under JAX predicts under TensorFlow: .keras files are backend-neutral.
    predicted = catdog(["predict", str(photo), "--model", str(model)], "tensorflow")
    assert predicted.returncode == 0, predicted.stderr
    assert "probably a" in predicted.stdout
