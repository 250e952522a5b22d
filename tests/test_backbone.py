"""v7: a keras.applications backbone with its own preprocessing, trained in two phases,
offline (`weights: null`, or a local .h5 file); `catdog predict` takes any photo size."""

from __future__ import annotations

import io
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from stages.core.config import EarlyStoppingParams, ImageParams, load_params
from stages.core.errors import ConfigError
from stages.core.runs import read_history
from stages.reporting.evaluate import EvaluateInputs, EvaluateOutputs, evaluate
from stages.tools.predict import predict
from stages.training.backbone import BACKBONE_LAYER, build_backbone, training_phases
from stages.training.model import build_classifier
from stages.training.train import TrainInputs, TrainOutputs, train
from tests.support.params import offline
from tests.support.prepared import SMALLEST_SIDE


@pytest.fixture(scope="module")
def params(repo):
    return offline(load_params(repo / "params.yaml"))


def test_the_backbone_replaces_the_conv_blocks_and_starts_frozen(params) -> None:
    model = build_classifier(params.variations["v7"], params.image, name="v7")
    backbone = model.get_layer(BACKBONE_LAYER)
    assert model.input_shape == (None, 120, 120, 3)
    assert not backbone.trainable and model.trainable_weights == model.layers[-1].trainable_weights
    # Its own preprocessing inside: pixels 0-255 in, [-1, 1] to the first convolution.
    rescale = next(layer for layer in backbone.layers if isinstance(layer, keras.layers.Rescaling))
    assert (rescale.scale, rescale.offset) == (1.0 / 127.5, -1.0)
    assert not any(isinstance(layer, keras.layers.Rescaling) for layer in model.layers)


def test_two_phases_the_second_at_the_lower_learning_rate(params) -> None:
    v7 = params.variations["v7"]
    assert v7.backbone is not None
    frozen, fine_tune = training_phases(v7)
    assert (frozen.first_epoch, frozen.last_epoch) == (0, v7.backbone.frozen_epochs)
    assert (fine_tune.first_epoch, fine_tune.last_epoch) == (v7.backbone.frozen_epochs, v7.epochs)
    assert fine_tune.learning_rate < frozen.learning_rate == v7.learning_rate
    assert len(training_phases(params.variations["v4"])) == 1
    model = build_classifier(v7, params.image, name="v7")
    fine_tune.prepare(model, model)
    backbone = model.get_layer(BACKBONE_LAYER)
    trainable = [layer for layer in backbone.layers if layer.trainable]
    assert trainable and set(trainable) <= set(backbone.layers[-v7.backbone.fine_tune_layers :])
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in trainable)


def test_only_the_last_phase_converges(params) -> None:
    """Early stopping and the plateau schedule watch the fine-tuning only: the frozen phase
    always runs to its end, so stopping there never skips the fine-tuning."""
    v7 = params.variations["v7"]
    assert v7.backbone is not None
    assert [phase.converges for phase in training_phases(v7)] == [False, True]
    frozen_only = v7.model_copy(
        update={"backbone": v7.backbone.model_copy(update={"frozen_epochs": v7.epochs})}
    )
    assert [phase.converges for phase in training_phases(frozen_only)] == [True]
    assert [phase.converges for phase in training_phases(params.variations["v6"])] == [True]


def test_weights_come_from_a_local_file(params, tmp_path) -> None:
    backbone_params = params.variations["v7"].backbone
    assert backbone_params is not None
    saved = build_backbone(backbone_params, params.image)
    path = tmp_path / "mobilenet.weights.h5"
    saved.save_weights(path)
    local = backbone_params.model_copy(update={"weights": str(path)})
    loaded = build_backbone(local, params.image)
    for mine, theirs in zip(saved.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    missing = backbone_params.model_copy(update={"weights": str(tmp_path / "no.h5")})
    with pytest.raises(ConfigError, match=r"backbone\.weights: .*no\.h5: no such file"):
        build_backbone(missing, params.image)


def test_imagenet_is_refused_offline(repo) -> None:
    backbone_params = load_params(repo / "params.yaml").variations["v7"].backbone
    assert backbone_params is not None and backbone_params.weights == "imagenet"
    with pytest.raises(ConfigError, match="imagenet is a download, and CATDOG_OFFLINE is set"):
        build_backbone(backbone_params, load_params(repo / "params.yaml").image)


def _photo(path: Path, width: int, height: int) -> Path:
    pixels = np.random.default_rng(width).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.slow
def test_v7_trains_evaluates_and_predicts_offline(params, small_prepared_66, tmp_path) -> None:
    """Both phases (2 + 1 epochs) on the small synthetic set with random weights, then the
    evaluate stage and `predict` on photos of three sizes."""
    v7 = params.variations["v7"]
    assert v7.backbone is not None
    v7 = v7.model_copy(
        update={"epochs": 3, "backbone": v7.backbone.model_copy(update={"frozen_epochs": 2})}
    )
    params = params.model_copy(
        update={
            "variations": {**params.variations, "v7": v7},
            "image": ImageParams(height=SMALLEST_SIDE, width=SMALLEST_SIDE),
        }
    )
    data = small_prepared_66
    inputs = TrainInputs(data.cache, data.train_csv, data.test_csv, tmp_path / "checkpoints")
    outputs = TrainOutputs(tmp_path / "v7.keras", tmp_path / "dvclive", tmp_path / "t.json")
    summary = train(params, "v7", 42, inputs, outputs)
    assert summary["epochs"] == 3 and summary["best_epoch"] is None
    assert read_history(tmp_path / "dvclive")["epoch"].tolist() == [1, 2, 3]
    scored = EvaluateOutputs(tmp_path / "test.json", tmp_path / "p.csv", tmp_path / "roc.csv")
    evaluate(EvaluateInputs(outputs.model, data.cache, data.test_csv), scored)
    assert 0.0 <= json.loads(scored.metrics.read_text())["accuracy"] <= 1.0
    photos = [
        _photo(tmp_path / f"{w}x{h}.jpg", w, h) for w, h in ((64, 48), (120, 120), (640, 480))
    ]
    found = predict(outputs.model, photos)
    assert not found.failures and len(found.predictions) == 3
    assert all(0.5 <= p.confidence <= 1.0 for p in found.predictions)


@pytest.mark.slow
def test_v7_with_early_stopping_always_fine_tunes(params, small_prepared_66, tmp_path, capsys):
    """Early stopping that would stop at once (patience 1, no epoch ever better by 10):
    the frozen phase runs its 2 epochs, the fine-tuning starts with fresh patience and
    stops after 2 of its 3; the best weights are restored once."""
    data = small_prepared_66
    v7 = params.variations["v7"]
    assert v7.backbone is not None
    impatient = EarlyStoppingParams(
        monitor="val_loss", patience=1, min_delta=10.0, restore_best_weights=True
    )
    v7 = v7.model_copy(
        update={
            "epochs": 5,
            "early_stopping": impatient,
            "backbone": v7.backbone.model_copy(update={"frozen_epochs": 2}),
        }
    )
    params = params.model_copy(
        update={
            "variations": {**params.variations, "v7": v7},
            "image": ImageParams(height=SMALLEST_SIDE, width=SMALLEST_SIDE),
        }
    )
    inputs = TrainInputs(data.cache, data.train_csv, data.test_csv, tmp_path / "checkpoints")
    outputs = TrainOutputs(tmp_path / "v7.keras", tmp_path / "dvclive", tmp_path / "t.json")
    summary = train(params, "v7", 42, inputs, outputs)
    assert read_history(outputs.live)["epoch"].tolist() == [1, 2, 3, 4]
    assert (summary["best_epoch"], summary["stopped_epoch"]) == (3, 4)
    assert capsys.readouterr().out.count("Restoring model weights") == 1
