"""The same training and evaluation code runs under KERAS_BACKEND=jax."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from ruamel.yaml import YAML

pytestmark = pytest.mark.slow


def catdog(args: list[str], backend: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KERAS_BACKEND": backend}
    return subprocess.run(
        [sys.executable, "-m", "stages.cli", *args], env=env, capture_output=True, text=True
    )


@pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import jax"], capture_output=True).returncode != 0,
    reason="jax is not installed",
)
def test_train_evaluate_predict_under_jax(tmp_path, repo, small_prepared, microsoft_zip) -> None:
    yaml = YAML()
    params = yaml.load((repo / "params.yaml").read_text())
    params["variations"]["v4"]["epochs"] = 1
    params_path = tmp_path / "params.yaml"
    with params_path.open("w") as handle:
        yaml.dump(params, handle)
    images, index = small_prepared.cache.images, small_prepared.cache.index
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
            str(small_prepared.train_csv),
            "--validation-csv",
            str(small_prepared.test_csv),
            "--model",
            str(model),
            "--history",
            str(tmp_path / "history.csv"),
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
            str(small_prepared.test_csv),
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
    assert 0.0 <= json.loads((tmp_path / "v4.json").read_text())["accuracy"] <= 1.0
    photo = tmp_path / "cat.jpg"
    import zipfile

    with zipfile.ZipFile(microsoft_zip) as archive:
        photo.write_bytes(archive.read("PetImages/Cat/0.jpg"))
    # A model trained under JAX predicts under TensorFlow: .keras files are backend-neutral.
    predicted = catdog(["predict", str(photo), "--model", str(model)], "tensorflow")
    assert predicted.returncode == 0, predicted.stderr
    assert "probably a" in predicted.stdout
