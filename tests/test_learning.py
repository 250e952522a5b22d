"""The training really learns: v4 on the synthetic set ends well above chance, and its
model labels a held-out photo through `catdog predict`."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from stages.cli import app
from stages.core.config import load_params
from stages.core.runs import read_history
from stages.reporting.evaluate import EvaluateInputs, EvaluateOutputs, evaluate
from stages.training.train import TrainInputs, TrainOutputs, train
from tests.support.prepared import decode_and_split

pytestmark = pytest.mark.slow

LEARNING_EPOCHS = 8


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, repo, synthetic_zip) -> dict[str, Path]:
    """The default synthetic set (2,000 photos), decoded and split."""
    root = tmp_path_factory.mktemp("learning")
    params = load_params(repo / "params.yaml")
    archive = synthetic_zip
    assert params.image.height == params.image.width and params.split.test_size == 0.2
    data = decode_and_split(archive, root, params.image.height, params.split.seed)
    return {"root": root, "archive": archive, "cache": data.cache, "test": data.test_csv}


def train_v4(repo: Path, prepared: dict, precision: str) -> dict[str, Path]:
    """v4 trained for a few epochs at `precision`, then evaluated."""
    root, cache = prepared["root"] / precision, prepared["cache"]
    root.mkdir()
    params = load_params(repo / "params.yaml")
    v4 = params.variations["v4"].model_copy(update={"epochs": LEARNING_EPOCHS})
    training = params.train.model_copy(update={"precision": precision})
    params = params.model_copy(
        update={"variations": {**params.variations, "v4": v4}, "train": training}
    )
    outputs = TrainOutputs(root / "v4.keras", root / "dvclive", root / "v4.train.json")
    split_root = prepared["root"]
    inputs = TrainInputs(
        cache, split_root / "train.csv", split_root / "test.csv", root / "checkpoints"
    )
    train(params, "v4", params.train.seeds[0], inputs, outputs)
    scored = EvaluateOutputs(root / "v4.json", root / "predictions.csv", root / "roc.csv")
    evaluate(EvaluateInputs(outputs.model, cache, split_root / "test.csv"), scored)
    return {
        **prepared,
        "model": outputs.model,
        "live": outputs.live,
        "metrics": root / "v4.json",
    }


@pytest.fixture(scope="module")
def trained(prepared, repo) -> dict[str, Path]:
    """v4 at float32, the default precision."""
    return train_v4(repo, prepared, "float32")


def test_v4_learns_well_above_chance(trained) -> None:
    metrics = json.loads(trained["metrics"].read_text())
    history = read_history(trained["live"])
    assert metrics["accuracy"] >= 0.85, metrics
    assert metrics["roc_auc"] >= 0.9
    assert history["loss"].iloc[-1] < history["loss"].iloc[0] - 0.2
    assert list(history["epoch"]) == list(range(1, LEARNING_EPOCHS + 1))
    print(f"v4 after {LEARNING_EPOCHS} epochs on the synthetic set: {metrics}")


def test_bfloat16_keeps_v4_accuracy_within_one_point(trained, prepared, repo) -> None:
    bf16 = train_v4(repo, prepared, "mixed_bfloat16")
    float32_metrics = json.loads(trained["metrics"].read_text())
    bf16_metrics = json.loads(bf16["metrics"].read_text())
    print(
        f"v4 test accuracy after {LEARNING_EPOCHS} epochs: float32 "
        f"{float32_metrics['accuracy']:.4f}, mixed_bfloat16 {bf16_metrics['accuracy']:.4f}"
    )
    assert json.loads((bf16["root"] / "mixed_bfloat16/v4.train.json").read_text())["precision"] == (
        "mixed_bfloat16"
    )
    assert abs(bf16_metrics["accuracy"] - float32_metrics["accuracy"]) <= 0.01
    import keras

    assert keras.config.dtype_policy().name == "float32"  # restored after training
    conv1 = keras.models.load_model(bf16["model"]).get_layer("conv1")
    assert conv1.dtype_policy.name == "mixed_bfloat16"


def test_predict_labels_held_out_photos(trained, tmp_path) -> None:
    test = pd.read_csv(trained["test"])
    cat = test[test["category"] == "cat"]["filename"].iloc[0]
    dog = test[test["category"] == "dog"]["filename"].iloc[0]
    with zipfile.ZipFile(trained["archive"]) as archive:
        (tmp_path / "cat.jpg").write_bytes(archive.read(cat))
        (tmp_path / "dog.jpg").write_bytes(archive.read(dog))
    result = CliRunner().invoke(
        app,
        [
            "predict",
            str(tmp_path / "cat.jpg"),
            str(tmp_path / "dog.jpg"),
            "--model",
            str(trained["model"]),
        ],
    )
    assert result.exit_code == 0, result.output
    cat_line, dog_line = result.stdout.strip().splitlines()
    assert cat_line.startswith(f"{tmp_path / 'cat.jpg'}: probably a CAT (")
    assert dog_line.startswith(f"{tmp_path / 'dog.jpg'}: probably a DOG (")
    assert cat_line.endswith("% confidence)")


def test_predict_reports_the_models_own_verdict_on_a_real_cat_photo(trained, tmp_path) -> None:
    """Chelsea, the cat photo scikit-image ships, saved as a camera-style JPEG. A model
    trained on drawn cats and dogs cannot be expected to recognise her, so this checks that
    `catdog predict` reports exactly what the model outputs for her decoded pixels."""
    import keras
    import skimage
    from PIL import Image

    from stages.ingest.decode import decode_photo

    chelsea = Path(skimage.__file__).parent / "data" / "chelsea.png"
    photo = tmp_path / "photo.jpg"
    Image.open(chelsea).convert("RGB").save(photo, quality=90)
    model = keras.models.load_model(trained["model"])
    pixels = decode_photo(photo.read_bytes(), 120, 120)
    dog = float(model.predict(pixels[None], verbose=0)[0, 0])
    label, confidence = ("DOG", dog) if dog >= 0.5 else ("CAT", 1 - dog)
    result = CliRunner().invoke(app, ["predict", str(photo), "--model", str(trained["model"])])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{photo}: probably a {label} ({confidence:.2%} confidence)"
    print(result.stdout.strip())
