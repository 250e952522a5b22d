"""FusedAdam and FusedRMSprop: Keras' arithmetic, one kernel per variable on TensorFlow."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from stages.training.optimizers import FusedAdam, FusedRMSprop

CASES = [
    (keras.optimizers.Adam, FusedAdam, {}),
    (keras.optimizers.Adam, FusedAdam, {"amsgrad": True}),
    (keras.optimizers.RMSprop, FusedRMSprop, {}),
    (keras.optimizers.RMSprop, FusedRMSprop, {"momentum": 0.9}),
    (keras.optimizers.RMSprop, FusedRMSprop, {"centered": True}),
]


def _variables() -> list[keras.Variable]:
    rng = np.random.default_rng(0)
    return [
        keras.Variable(rng.standard_normal(shape).astype("float32"), name=f"w{i}")
        for i, shape in enumerate([(4, 3), (3,)])
    ]


def _train(optimizer: keras.optimizers.Optimizer, steps: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    variables = _variables()
    for _ in range(steps):
        gradients = [rng.standard_normal(v.shape).astype("float32") for v in variables]
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
    return [keras.ops.convert_to_numpy(v) for v in variables]


@pytest.mark.parametrize(("keras_class", "fused_class", "options"), CASES)
def test_fused_update_matches_keras(keras_class, fused_class, options) -> None:
    expected = _train(keras_class(learning_rate=0.01, **options))
    fused = _train(fused_class(learning_rate=0.01, **options))
    start = [keras.ops.convert_to_numpy(v) for v in _variables()]
    for got, want, before in zip(fused, expected, start, strict=True):
        assert not np.allclose(want, before, atol=1e-3)  # five steps moved the weights
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_fused_adam_keeps_adams_state() -> None:
    """The same slot variables as Adam, so checkpoints load into either."""
    adam, fused = keras.optimizers.Adam(), FusedAdam()
    adam.build(_variables())
    fused.build(_variables())
    assert [v.name for v in fused.variables] == [v.name for v in adam.variables]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the fused kernels are TF's")
@pytest.mark.parametrize(
    ("optimizer", "kernel"),
    [(FusedAdam, "ResourceApplyAdam"), (FusedRMSprop, "ResourceApplyRMSProp")],
)
def test_one_kernel_per_variable(optimizer, kernel: str) -> None:
    import tensorflow as tf

    variables = _variables()
    fused = optimizer()
    fused.build(variables)
    step = tf.function(
        lambda: fused.apply_gradients([(tf.ones_like(v.value), v) for v in variables])
    )
    op_types = [op.type for op in step.get_concrete_function().graph.get_operations()]
    assert op_types.count(kernel) == len(variables)
