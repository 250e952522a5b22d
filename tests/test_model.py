"""Each variation's model has the layers and parameter count that the study's table implies."""

from __future__ import annotations

import keras
import pytest

from stages.core.config import load_params
from stages.core.dataset import CachePaths
from stages.training.model import (
    build_classifier,
    build_optimizer,
    build_trainer,
    precision_warning,
)
from tests.support.params import offline

# Worked by hand from the table (valid padding, 120x120x3 input), e.g. base:
# conv 3x3x3x16+16, conv 3x3x16x32+32, flatten 28*28*32 = 25,088, dense 1024, 2048, 1.
EXPECTED_PARAMS = {
    "base": 27_797_473,
    "v1": 17_397_793,
    "v2": 6_930_289,
    "v3": 6_930_289,
    "v4": 6_930_289,
    "v5": 6_930_289,
    "v6": 6_930_289,
}


@pytest.fixture(scope="module")
def params(repo):
    return offline(load_params(repo / "params.yaml"))


@pytest.mark.parametrize("name", list(EXPECTED_PARAMS))
def test_layers_and_parameter_count(params, name) -> None:
    variation = params.variations[name]
    model = build_classifier(variation, params.image, name=name)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    denses = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [c.filters for c in convs] == variation.conv_filters
    assert all(c.kernel_size == (variation.kernel_size,) * 2 for c in convs)
    assert all(c.activation.__name__ == "relu" for c in convs)
    assert all(p.pool_size == (variation.pool_size,) * 2 for p in pools)
    assert [d.units for d in denses] == [*variation.dense_units, 1]
    assert denses[-1].activation.__name__ == "sigmoid"
    assert model.input_shape == (None, 120, 120, 3)
    assert model.count_params() == EXPECTED_PARAMS[name]


def test_study_sizes_roughly(params) -> None:
    counts = {
        n: build_classifier(v, params.image).count_params() for n, v in params.variations.items()
    }
    assert round(counts["base"] / 1e6, 1) == 27.8
    assert round(counts["v1"] / 1e6, 1) == 17.4
    assert round(counts["v4"] / 1e6, 1) == 6.9


def test_augmentation_is_training_only_and_adds_no_weights(params) -> None:
    classifier = build_classifier(params.variations["v4"], params.image)
    trainer = build_trainer(classifier, params.augment, seed=0)
    assert trainer.count_params() == classifier.count_params()
    images = keras.random.uniform((2, 120, 120, 3), maxval=255.0, seed=1)
    inference = keras.ops.convert_to_numpy(trainer(images, training=False))
    direct = keras.ops.convert_to_numpy(classifier(images, training=False))
    assert inference == pytest.approx(direct, abs=1e-6)


@pytest.mark.parametrize(
    ("name", "kind"), [("v2", keras.optimizers.RMSprop), ("v4", keras.optimizers.Adam)]
)
def test_optimizer_and_learning_rate(params, name, kind) -> None:
    optimizer = build_optimizer(params.variations[name])
    assert isinstance(optimizer, kind)
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(1e-3)


def test_mixed_float16_without_a_gpu_is_warned_in_one_line(monkeypatch) -> None:
    assert keras.distribution.list_devices() == ["cpu:0"]  # this machine: no GPU
    (line,) = (precision_warning("mixed_float16") or "").splitlines()
    assert line.startswith("warning: train.precision mixed_float16 with no GPU visible")
    assert "set train.precision to float32 (or mixed_bfloat16" in line
    assert precision_warning("float32") is None
    assert precision_warning("mixed_bfloat16") is None
    monkeypatch.setattr(keras.distribution, "list_devices", lambda: ["gpu:0", "gpu:1"])
    assert precision_warning("mixed_float16") is None


def test_training_starts_with_the_warning_once(monkeypatch, capsys, tmp_path, repo) -> None:
    from stages.training import train as train_module

    class Started(Exception):
        """Raised where the photos would be read: the warning comes before."""

    def started(*args: object) -> None:
        raise Started

    monkeypatch.setattr(train_module, "load_split", started)
    params = load_params(repo / "params.yaml")
    mixed = params.model_copy(
        update={"train": params.train.model_copy(update={"precision": "mixed_float16"})}
    )
    paths = train_module.TrainInputs(CachePaths(tmp_path, tmp_path), tmp_path, tmp_path, tmp_path)
    outputs = train_module.TrainOutputs(tmp_path, tmp_path, tmp_path)
    with pytest.raises(Started):
        train_module.train(mixed, "v4", 42, paths, outputs)
    assert capsys.readouterr().err.splitlines() == [
        f"train@v4-42: {precision_warning('mixed_float16')}"
    ]
    with pytest.raises(Started):
        train_module.train(params, "v4", 42, paths, outputs)
    assert capsys.readouterr().err == ""
