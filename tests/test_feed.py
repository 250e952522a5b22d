"""feed.py: every photo once per epoch, reshuffled, with its own label."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from stages.core.dataset import Split
from stages.training.feed import batches, fit_data

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the tf.data feed is TensorFlow's"
)


def _photos(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Photos whose every pixel is their row number, labelled by parity."""
    rows = np.arange(count, dtype=np.uint8)[:, None, None, None]
    images = np.broadcast_to(rows, (count, 4, 4, 3))
    return np.ascontiguousarray(images), (np.arange(count) % 2).astype("float32")


def _epoch(dataset) -> tuple[list[int], list[int]]:
    rows, sizes = [], []
    for images, labels in dataset:
        images, labels = images.numpy(), labels.numpy()
        assert (images[:, 0, 0, 0] % 2 == labels).all()  # each photo keeps its label
        rows += images[:, 0, 0, 0].tolist()
        sizes.append(len(labels))
    return rows, sizes


def test_training_batches_cover_every_photo_and_reshuffle_each_epoch() -> None:
    images, labels = _photos(70)
    dataset = batches(images, labels, batch_size=16, shuffle_seed=3)
    first, sizes = _epoch(dataset)
    second, _ = _epoch(dataset)
    assert sizes == [16, 16, 16, 16, 6]
    assert sorted(first) == sorted(second) == list(range(70))
    assert first != second != list(range(70))


def test_validation_batches_keep_the_split_order() -> None:
    images, labels = _photos(20)
    rows, sizes = _epoch(batches(images, labels, batch_size=8, shuffle_seed=None))
    assert rows == list(range(20)) and sizes == [8, 8, 4]


def test_fit_data_turns_autotuning_off() -> None:
    images, labels = _photos(10)
    split = Split(images=images, labels=labels, filenames=[f"{i}.jpg" for i in range(10)])
    data = fit_data(split, split, batch_size=4, seed=0)
    assert set(data) == {"x", "shuffle", "validation_data"}
    for dataset in (data["x"], data["validation_data"]):
        assert dataset.options().autotune.enabled is False
