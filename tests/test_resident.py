"""The JAX backend's device-resident engine (`stages/training/resident.py`) and
`train.backend` (`stages/core/backend.py`): on the CPU here, JAX standing in for a GPU."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from stages.core.backend import resolve_backend, use_backend
from stages.core.errors import CatdogError
from stages.core.runs import CURVES, read_history
from stages.training.resident import batch_rows, epoch_order
from tests.support.params import set_params, write_params
from tests.support.prepared import SMALLEST_SIDE, Prepared, decode_and_split
from tests.support.training import train_arguments

HAS_JAX = subprocess.run([sys.executable, "-c", "import jax"], capture_output=True).returncode == 0
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")


def test_an_epoch_order_is_a_permutation_fixed_by_seed_and_epoch() -> None:
    order = epoch_order(10, seed=42, epoch=3)
    assert sorted(order) == list(range(10))
    assert list(order) == list(epoch_order(10, seed=42, epoch=3))
    assert list(order) != list(epoch_order(10, seed=42, epoch=4))
    assert list(order) != list(epoch_order(10, seed=7, epoch=3))


def test_batches_are_fits_full_batches_then_the_short_rest() -> None:
    full, rest = batch_rows(np.arange(10), 4)
    assert full.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]] and rest.tolist() == [8, 9]
    full, rest = batch_rows(np.arange(8), 4)
    assert full.shape == (2, 4) and len(rest) == 0
    full, rest = batch_rows(np.arange(3), 4)
    assert full.shape == (0, 4) and rest.tolist() == [0, 1, 2]


def test_named_backends_are_kept_and_auto_takes_tensorflow_without_a_gpu() -> None:
    assert resolve_backend("jax") == "jax"
    assert resolve_backend("tensorflow") == "tensorflow"
    assert resolve_backend("auto") == "tensorflow"  # this machine: no GPU


def test_a_process_that_loaded_another_backend_is_refused() -> None:
    loaded = keras.backend.backend()
    other = "jax" if loaded == "tensorflow" else "tensorflow"
    assert use_backend(loaded) == loaded
    with pytest.raises(CatdogError, match=f"train.backend: {other} needs Keras' {other} backend"):
        use_backend(other)


def train_command(data: Prepared, repo: Path, out: Path, epochs: int) -> list[str]:
    """`catdog train v4` with `train.backend: jax` for `epochs` into `out`, with its own
    params file."""

    def edit(params: dict) -> None:
        params["image"].update(height=SMALLEST_SIDE, width=SMALLEST_SIDE)
        params["train"]["backend"] = "jax"
        params["train"]["backup_seconds"] = 0  # a backup after every epoch
        params["variations"]["v4"].update(epochs=epochs, batch_size=32)

    arguments = train_arguments(write_params(out, repo, edit), data, out)
    return [sys.executable, "-m", "stages.cli", *arguments]


def without_keras_backend() -> dict[str, str]:
    """This environment, minus KERAS_BACKEND: the params file alone chooses."""
    return {name: value for name, value in os.environ.items() if name != "KERAS_BACKEND"}


def killed_after(command: list[str], checkpoints: Path, epochs: int) -> None:
    """Start `command`, and kill -9 it once its checkpoint history (in `checkpoints`, in a
    folder named by a fingerprint) holds `epochs` rows."""
    victim = subprocess.Popen(command, env=without_keras_backend(), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and victim.poll() is None:
        histories = list(checkpoints.glob("*/history.csv"))
        if histories and histories[0].read_text().count("\n") - 1 >= epochs:
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            return
        time.sleep(0.02)
    raise AssertionError(f"training ended or stalled before epoch {epochs}")


@pytest.mark.slow
@needs_jax
def test_jax_backend_trains_resumes_after_kill_9_and_matches_an_unbroken_run(
    small_prepared_66, repo, tmp_path
) -> None:
    """`train.backend: jax` on the CPU: the resident engine writes the outputs `fit` writes;
    a run killed with SIGKILL mid-training resumes and ends with the same history and
    weights as an unbroken run of the same seed (batch order and augmentation draws
    included), every epoch in it once."""
    epochs = 5
    unbroken = train_command(small_prepared_66, repo, tmp_path / "unbroken", epochs)
    finished = subprocess.run(unbroken, env=without_keras_backend(), capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "float32 on jax (resident)" in finished.stderr
    summary = json.loads((tmp_path / "unbroken" / "train.json").read_text())
    assert (summary["backend"], summary["engine"], summary["epochs"]) == ("jax", "resident", 5)

    resumed = train_command(small_prepared_66, repo, tmp_path / "resumed", epochs)
    checkpoints = tmp_path / "resumed" / "checkpoints"
    killed_after(resumed, checkpoints, epochs=3)
    finished = subprocess.run(resumed, env=without_keras_backend(), capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "resuming after epoch" in finished.stderr
    assert not list(checkpoints.iterdir())

    histories = [read_history(tmp_path / run / "dvclive") for run in ("unbroken", "resumed")]
    assert list(histories[0].columns) == ["epoch", *CURVES]
    assert histories[1]["epoch"].tolist() == list(range(1, epochs + 1))
    pd.testing.assert_frame_equal(histories[0], histories[1], rtol=1e-5)
    weights = [
        keras.saving.load_model(tmp_path / run / "v4.keras").get_weights()
        for run in ("unbroken", "resumed")
    ]
    for unbroken_weights, resumed_weights in zip(*weights, strict=True):
        np.testing.assert_allclose(unbroken_weights, resumed_weights, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def engines_data(tmp_path_factory) -> Prepared:
    """600 synthetic photos decoded at 66x66 and split 80/20 (472 train, 118 test): enough
    for v4 to learn on JAX within a few epochs."""
    from stages.ingest.synthetic import write_synthetic_archive

    root = tmp_path_factory.mktemp("engines")
    write_synthetic_archive(root / "photos.zip", 600, seed=0, layout="microsoft", workers=2)
    return decode_and_split(root / "photos.zip", root / "data", SMALLEST_SIDE)


# Both engines on JAX, from the same seed, on the same batches: the resident loop, and
# Keras' own `fit` called once per epoch on the photos in `epoch_order` (unshuffled).
# Prints the test accuracy of each, then the per-epoch training losses.
ENGINES = """
import json
import sys
import keras
import numpy as np
from stages.core.config import load_params
from stages.core.dataset import CachePaths, load_split
from stages.training.augment import EpochSeededDraws
from stages.training.model import build_classifier, build_trainer, compile_model
from stages.training.resident import epoch_order, fit_resident
from stages.training.seed import seed_everything

params_file, images, index, train_csv, test_csv, epochs = sys.argv[1:]
params, epochs = load_params(params_file), int(epochs)
variation = params.variation("v4")
cache = CachePaths(images, index)
train, test = load_split(cache, train_csv), load_split(cache, test_csv)

def fresh():
    seed_everything(42)
    classifier = build_classifier(variation, params.image)
    trainer = compile_model(build_trainer(classifier, params.augment, 42), variation)
    return classifier, trainer

def accuracy(classifier):
    dog = classifier.predict(test.images, batch_size=64, verbose=0)[:, 0] >= 0.5
    return float(np.mean(dog == (test.labels >= 0.5)))

results = {}
classifier, trainer = fresh()
history = keras.callbacks.History()
fit_resident(trainer, train, test, batch_size=variation.batch_size, seed=42, epochs=epochs,
             callbacks=[EpochSeededDraws(), history], verbose=0)
results["resident"] = [accuracy(classifier), history.history["loss"]]
classifier, trainer = fresh()
draws, losses = EpochSeededDraws(), []
for epoch in range(epochs):
    rows = epoch_order(len(train.labels), 42, epoch)
    done = trainer.fit(train.images[rows], train.labels[rows], batch_size=variation.batch_size,
                       shuffle=False, initial_epoch=epoch, epochs=epoch + 1,
                       callbacks=[draws], verbose=0)
    losses += done.history["loss"]
results["fit"] = [accuracy(classifier), losses]
print(json.dumps(results))
"""


@pytest.mark.slow
@needs_jax
def test_resident_engine_ends_where_keras_fit_ends_on_the_same_batches(
    engines_data, tmp_path, repo
) -> None:
    """v4 on 600 synthetic photos at 66x66, 8 epochs with the study's augmentation, on
    JAX: the resident engine's test accuracy is within 0.01 of Keras' `fit` given the
    same batches and augmentation draws, and the two loss curves agree."""
    side = {"image.height": SMALLEST_SIDE, "image.width": SMALLEST_SIDE}
    data = engines_data
    arguments = [str(write_params(tmp_path, repo, set_params(side))), str(data.cache.images)]
    arguments += [str(data.cache.index), str(data.train_csv), str(data.test_csv), "8"]
    env = {**without_keras_backend(), "KERAS_BACKEND": "jax", "PYTHONPATH": str(repo)}
    result = subprocess.run(
        [sys.executable, "-c", ENGINES, *arguments], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    print(results)
    (resident_accuracy, resident_losses), (fit_accuracy, fit_losses) = results.values()
    assert resident_accuracy == pytest.approx(fit_accuracy, abs=0.01)
    assert resident_losses == pytest.approx(fit_losses, rel=0.02)
    assert resident_accuracy > 0.6  # it learned
