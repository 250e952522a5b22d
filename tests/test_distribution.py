"""`train.distribution: data_parallel` on two logical CPU devices, TensorFlow and JAX:
each replica trains on half of every batch with the variables on both devices, and training
ends where single-device training ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stages.core.config import load_params
from stages.core.errors import ConfigError
from stages.core.runs import read_history
from tests.support.params import write_params
from tests.support.prepared import SMALLEST_SIDE, Prepared
from tests.support.training import train_arguments

pytestmark = pytest.mark.slow

# Split the CPU into two logical devices before TensorFlow runs any op (JAX: XLA_FLAGS),
# then train once per params file given, in this one process. The engine (`fit` on
# TensorFlow, `fit_resident` on JAX) is wrapped to record
# the evidence: on how many devices each trainable variable lives, and how many rows of a
# batch each replica's train step gets (TensorFlow: the rows in each replica's step;
# JAX: the shard of the batch each device holds inside the jitted step).
DRIVER = """
import json
import sys
import keras
backend = keras.backend.backend()
if backend == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
else:
    import jax
seen = set()

def probed(train_step):
    if backend == "tensorflow":
        def step(data):
            context = tf.distribute.get_replica_context()
            replica = context.replica_id_in_sync_group if context is not None else 0
            record = lambda r, n: seen.add((f"replica {int(r)}", int(n))) or 0
            tf.py_function(record, [replica, tf.shape(data[0])[0]], [tf.int32])
            return train_step(data)
    else:
        def step(state, data):
            x = data[0]
            rows = lambda s: s.shard_shape(x.shape)[0]
            record = lambda s: seen.update((str(d), rows(s)) for d in s.device_set)
            jax.debug.inspect_array_sharding(x, callback=record)
            return train_step(state, data)
    return step

def devices(variable):
    value = variable.value
    if backend == "tensorflow":
        return len({part.device for part in getattr(value, "values", [value])})
    return len(value.sharding.device_set)

def recorded(fit):
    def fit_and_record(model, *args, **kwargs):
        seen.clear()
        model.train_step = probed(model.train_step)
        history = fit(model, *args, **kwargs)
        evidence = {
            "devices_per_variable": sorted({devices(v) for v in model.trainable_variables}),
            "batch_parts": len({replica for replica, _ in seen}),
            "most_rows_per_part": max(rows for _, rows in seen),
        }
        print("=== evidence " + json.dumps(evidence), file=sys.stderr, flush=True)
        return history
    return fit_and_record

import stages.training.train as training
keras.Model.fit = recorded(keras.Model.fit)  # TensorFlow's engine
training.fit_resident = recorded(training.fit_resident)  # JAX's

from stages.cli import app
for arguments in sys.argv[1:]:
    print("=== run", file=sys.stderr, flush=True)
    app(arguments.split("\\t"), standalone_mode=False)
"""
TOLERANCE = {"val_accuracy": 0.03, "val_loss": 0.02, "loss": 0.02}


def arguments(data: Prepared, repo: Path, out: Path, distribution: str, backend: str) -> list[str]:
    """`catdog train v4` for two epochs (no augmentation: its random draws depend on the
    replica count) into `out`, with its own params file."""

    def edit(params) -> None:
        params["image"].update(height=SMALLEST_SIDE, width=SMALLEST_SIDE)
        params["augment"]["enabled"] = False
        params["train"]["distribution"] = distribution
        params["train"]["backend"] = backend
        params["variations"]["v4"]["epochs"] = 2

    return train_arguments(write_params(out, repo, edit), data, out)


def evidence(log: str) -> dict:
    (line,) = [line for line in log.splitlines() if line.startswith("=== evidence ")]
    return json.loads(line.removeprefix("=== evidence "))


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_data_parallel_on_two_devices_matches_one_device(
    small_prepared_66, repo, tmp_path, backend
) -> None:
    assert load_params(repo / "params.yaml").train.distribution == "none"
    modes = ("none", "data_parallel")
    runs = [
        "\t".join(arguments(small_prepared_66, repo, tmp_path / mode, mode, backend))
        for mode in modes
    ]
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    }
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, *runs], cwd=repo, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    single_log, parallel_log = result.stderr.split("=== run")[1:]
    assert "replicas" not in single_log
    assert "train.distribution data_parallel: 2 replicas" in parallel_log
    # v4's batch is 64: one replica takes it whole; two each take half, and every trainable
    # variable is mirrored (TensorFlow) or replicated (JAX) on both devices.
    assert evidence(single_log) == {
        "devices_per_variable": [1],
        "batch_parts": 1,
        "most_rows_per_part": 64,
    }
    assert evidence(parallel_log) == {
        "devices_per_variable": [2],
        "batch_parts": 2,
        "most_rows_per_part": 32,
    }
    single, parallel = (read_history(tmp_path / mode / "dvclive").iloc[-1] for mode in modes)
    print(f"{backend}: none {single.to_dict()}; data_parallel {parallel.to_dict()}")
    for column, tolerance in TOLERANCE.items():
        assert parallel[column] == pytest.approx(single[column], abs=tolerance), column


def test_an_unknown_distribution_is_refused_naming_the_key(tmp_path, repo) -> None:
    path = write_params(tmp_path, repo, lambda p: p["train"].__setitem__("distribution", "tpu"))
    with pytest.raises(ConfigError, match=r"train\.distribution: Input should be 'none' or"):
        load_params(path)
